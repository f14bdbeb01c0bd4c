package main

import (
	"fmt"
	"time"

	"github.com/pbxha/pbxha/agent"
)

// sdService is the agent as systemd's watchdog sees it: ready once every
// probe has run, making progress while probe results arrive.
type sdService struct{ *agent.Agent }

func (s sdService) Status() string { return fmt.Sprintf("probing, health %s", s.Health()) }

// stuckAfter is how long the probe loop may produce no result before it
// counts as stuck: three of its longest intervals.
func stuckAfter(s *checkSet) time.Duration { return 3 * maxInterval(s) }
