package etcdha

// Decisions returns how many decisions the runtime has taken.
func (r *Runtime) Decisions() uint64 { return r.decisions.Load() }
