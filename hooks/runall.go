package hooks

import (
	"context"
	"errors"
	"fmt"
)

// OnFailure says what RunAll does after a hook fails.
type OnFailure int

// Failure policies. Takeover uses StopAtFailure: a takeover hook that moves
// an elastic IP failed, so a later one announcing the move must not run.
// Release uses ContinueAfterFailure: a node stepping down lets go of every
// resource it can, whatever failed before.
const (
	StopAtFailure OnFailure = iota
	ContinueAfterFailure
)

// String returns "stop" or "continue".
func (f OnFailure) String() string {
	switch f {
	case StopAtFailure:
		return "stop"
	case ContinueAfterFailure:
		return "continue"
	default:
		return fmt.Sprintf("onfailure(%d)", int(f))
	}
}

// RunAll runs hooks one after another in order, each with env, and returns
// the result of every hook that ran. With StopAtFailure it stops at the
// first failure; with ContinueAfterFailure it runs them all. The error joins
// the failures (nil when all succeeded). A done ctx stops RunAll in both
// modes: the remaining hooks would only be killed at once.
func RunAll(ctx context.Context, hooks []Hook, env map[string]string, on OnFailure) ([]Result, error) {
	results := make([]Result, 0, len(hooks))
	var errs []error
	for i, h := range hooks {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("hooks: %d of %d hooks not run: %w", len(hooks)-i, len(hooks), err))
			break
		}
		res, err := Run(ctx, h, env)
		results = append(results, res)
		if err != nil {
			errs = append(errs, err)
			if on == StopAtFailure {
				if rest := len(hooks) - i - 1; rest > 0 {
					errs = append(errs, fmt.Errorf("hooks: %d later hooks not run", rest))
				}
				break
			}
		}
	}
	return results, errors.Join(errs...)
}
