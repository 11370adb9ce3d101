// Package settlement owns jobs and the money that funds them: a buyer
// creates a job for a provider (the provider's rate card copied in), pays
// the hub's BOLT11 invoice for the budget, and the settled amount is posted
// from the hub's holdings into the job's escrow. Settlement keeps each job's
// solvency (runway = escrow ÷ price per second at the job's spec) current,
// marks a job low on balance or suspended when its escrow runs down and
// resumes it on a top-up, lets metering start a job and re-evaluates it
// after metering charged its usage (metering is the one charge path: it
// prices and posts escrow → provider payable and platform fees; settlement
// does not price), and at the end refunds what
// is left in escrow to the buyer over Lightning, as a durable intent that
// survives a restart. Every job's state and transitions are explicit
// (states.go) and recorded with their time and cause; docs/jobs.md explains
// them. The job state is defined once, here: metering asks
// State.TakesUsage, the API shows its names, the store keeps its strings.
// Reading a job (GetJob, ListJobs) never calls lnd: top-up invoices are
// made by the sweeper, woken when a job moves to low_balance or suspended,
// or by TopUpJob on request.
package settlement
