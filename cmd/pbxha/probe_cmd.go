package main

import "github.com/spf13/cobra"

func newProbeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Run one-shot health checks against a target, like ping",
	}
	cmd.AddCommand(
		newProbeSIPCmd(g),
		newProbeESLCmd(g),
		newProbePGCmd(g),
		newProbeMySQLCmd(g),
		newProbeAMICmd(g),
		newProbeTCPCmd(g),
		newProbeExecCmd(g),
	)
	return cmd
}
