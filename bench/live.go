package bench

import "fmt"

// Live mode would run a scenario against a running coprocd: one guest
// process per domain driving its vcoprocs through the paravirtual frontend
// (package frontend) with the scenario's workload, in real time, and the
// daemon's own accounting read back for device time and switches.
//
// What exists today is the frontend library (Dial, Alloc, Submit, WaitJob)
// and the daemon's host end (pvhost). What live mode still needs, and why
// it is refused rather than approximated:
//   - a guest workload program: pvhost identifies a domain by the peer's
//     credentials (SO_PEERCRED), one session per domain, so each domain
//     must be its own process (or uid); goroutines of this process would
//     all be one domain;
//   - a daemon configuration generated from the scenario (domains bound to
//     those processes' credentials, the policy under test), and a way to
//     switch the policy between runs of a shoot-out;
//   - per-job timestamps from the guest and device time and switch counts
//     from the daemon's control API, to fill the same report.
func liveUnavailable() error {
	return fmt.Errorf("%w: live mode needs a guest workload program (one process per domain, since the daemon's PV host identifies a domain by SO_PEERCRED) that replays the scenario through package frontend, a daemon configuration generated from the scenario, and the daemon's per-device accounting over its control API; none of these exist yet — use --mode sim", ErrLiveUnavailable)
}
