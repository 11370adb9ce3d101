// Package agent is the provider's metering agent: it starts the command a
// job runs, measures the CPU time and memory of its whole process tree every
// second from /proc, and turns the per-second measurements into usage
// records that are signed with the agent key and sent to Sluice.
package agent
