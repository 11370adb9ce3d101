// Package dashboard is the operator's web dashboard: an http.Handler that
// sluiced mounts under /dashboard/ on the API's own TLS listener. It owns
// the dashboard's sessions (one-time links that `sluice operator dashboard`
// prints, and a login that takes the operator macaroon), the pages (now,
// a job, a provider, the vault) embedded with go:embed, their JSON data
// endpoints and a server-sent event stream that pushes each view every
// second. Every figure comes from sluiced's own state through the domain
// packages' read-only calls (settlement, payouts, providers, the vault's
// recorded figures); no request reaches lnd or tapd. Nothing but the login
// page and the static assets is served without an operator session.
package dashboard
