// Package supervisor keeps the local PBX process running: it starts the PBX
// (exec mode) or watches one started by someone else (pidfile and systemd
// modes), notices its death at once through the child's wait or a pidfd,
// kills it when it hangs (alive but its critical service probe failed for
// HangGrace), restarts it with back-off and, past MaxRestarts within Window,
// marks it fault so that the failover logic can hand the service to the peer.
//
// Every start, stop and restart runs in the one goroutine of Run, so two PBX
// instances are never started at once; before each start the supervisor looks
// for a live PBX (its recorded child, the pidfile's pid or the unit's MainPID)
// and adopts it instead. When Run returns the PBX keeps running unless
// Config.StopOnExit is set: restarting pbxha must never drop calls.
package supervisor
