// Package faultmatrix holds the reliability proof tests, run on the real Temporal
// dev server, MariaDB, PowerDNS and the Proxmox simulator through the
// starter binary's CLI contract (`starter terminate --service-id N
// --follow` exits 0 when the VM is terminated, 3 when the run waits in
// error_terminate):
//
//   - TestFaultMatrix: one injected fault per phase and provider, each
//     ending in its documented end state (the table is README.md);
//   - TestBadInput*: config files, services, signals, a database and a
//     Temporal that are down — each a one-line error, a non-zero exit and
//     nothing written;
//   - TestNoSecretAnywhere: known secrets never reach the workflow
//     history, the logs or any database row.
//
// Every end state is judged by package chaos/invariant, the chaos run's
// checker, so both proofs share one definition of "documented end state".
package faultmatrix
