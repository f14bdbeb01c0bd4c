package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// profiles are the hidden --cpu-profile and --mem-profile flags of `pbxha
// run`: a Go CPU profile of the whole run, and an allocation profile
// written when it stops, for the benchmarks (docs/BENCHMARKS.md). They write
// files only; nothing listens.
type profiles struct {
	cpu, mem string
}

func (p *profiles) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&p.cpu, "cpu-profile", "", "write a CPU profile of the run to this file (pprof format)")
	f.StringVar(&p.mem, "mem-profile", "", "write an allocation profile to this file when the run stops (pprof format)")
	_ = f.MarkHidden("cpu-profile")
	_ = f.MarkHidden("mem-profile")
}

// gcPercent is the garbage collector's target for `pbxha run` unless GOGC
// is set: an idle node's live heap is about 1 MiB, and Go's default (100,
// with a 4 MiB floor) kept about 1.5 MiB more of heap resident for it; at 50
// the collector runs about twice as often, about a millisecond of CPU per
// cycle (docs/BENCHMARKS.md, "A pair at rest").
const gcPercent = 50

// start starts the CPU profile, if asked for, and returns the func that
// ends it and writes the allocation profile. Without --mem-profile it turns
// the runtime's allocation sampling off: each sample walks the allocating
// stack through the executable's tables, which kept pages of them resident
// (and cost CPU) at rest for a profile nobody reads.
func (p *profiles) start() (stop func() error, err error) {
	if p.mem == "" {
		runtime.MemProfileRate = 0
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	var cpu *os.File
	if p.cpu != "" {
		if cpu, err = os.Create(p.cpu); err != nil {
			return nil, fmt.Errorf("run: cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, fmt.Errorf("run: cpu profile %s: %w", p.cpu, err)
		}
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				errs = append(errs, fmt.Errorf("run: cpu profile %s: %w", p.cpu, err))
			}
		}
		if p.mem != "" {
			runtime.GC()
			errs = append(errs, writeProfile("allocs", p.mem))
		}
		return errors.Join(errs...)
	}, nil
}

func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("run: %s profile: %w", name, err)
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("run: %s profile %s: %w", name, path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("run: %s profile %s: %w", name, path, err)
	}
	return nil
}
