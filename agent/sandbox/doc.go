// Package sandbox runs a buyer's workload on a provider's machine, kept
// from the provider's files, processes and network, held to its resource
// spec, and metered from its own cgroup.
//
// A Manager makes sandboxes; Prepare validates the workload (command,
// arguments and small inputs, MaxWorkloadBytes in all) and the spec (CPU in
// core-milliseconds per second, memory in MiB, a pids limit, a wall-clock
// limit) and makes the sandbox's cgroup with those limits. Start hands the
// sandbox's command line to agent.Start, which meters it every second as
// `agent run` does, here from the cgroup's counters; Wait returns the exit
// code, whether the memory or the wall limit killed it, and its stdout
// (capped at MaxOutputBytes, truncation reported) with its SHA-256. Close
// removes the cgroup and the work directory; New removes those an agent
// killed before Close left behind.
//
// The command line is `sh -c <join>` that writes its own pid into the
// cgroup's cgroup.procs files and execs setpriv, which drops to an
// unprivileged user (nobody) and execs bubblewrap, which execs the
// workload. The join happens before bubblewrap or the workload run, so
// every process they make is born in the cgroup: nothing runs outside the
// limits or the count.
//
// What it protects against:
//   - reading the provider's files: a new mount namespace whose root holds
//     /usr read-only (with /usr/local hidden), the merged-/usr links,
//     /etc's dynamic-linker files and alternatives, a minimal /dev, its own
//     /proc, and two tmpfs, /tmp and /work (the only writable places, with
//     the inputs bound read-only into /work); no /home, /root, /etc, /var,
//     /run, /sys or host /tmp. Outside its user namespace the workload is
//     nobody, with no_new_privs, so a mount it could see by mistake is
//     still only as open as it is to nobody, and setuid programs in /usr
//     give nothing;
//   - the network: a network namespace with only its own loopback, so no
//     host loopback services, no other address, no DNS, no abstract Unix
//     sockets of the host;
//   - the provider's processes and IPC: new PID, IPC, UTS and cgroup
//     namespaces, a new session (no terminal to inject into), and no
//     further user namespaces (--disable-userns);
//   - using more than its spec: a CFS quota (at most one period, 100 ms,
//     of quota ahead of the limit), a hard memory limit that counts the
//     files it writes in its tmpfs and allows no swap (the kernel's OOM
//     killer ends the largest process), a pids limit (the sandbox's own two
//     processes added), and the wall-clock limit, after which every
//     process in the cgroup is killed;
//   - outliving the agent: bubblewrap dies with its parent, and New cleans
//     up what a killed agent left.
//
// What it does not protect against: kernel exploits (the workload shares
// the kernel, user namespaces widen what it can reach of it, and there is
// no seccomp filter); side channels (timing, caches, the machine-wide
// figures /proc shows such as loadavg, meminfo and cpuinfo); reading what
// /usr holds, which tells which software and versions the machine runs;
// disk and network I/O bandwidth of the machine (no io limit; the page
// cache of what it reads from /usr); the CPU and memory the agent spends
// capturing and metering it (not charged, not limited), while bubblewrap's
// own setup, a few milliseconds, runs in the cgroup and is charged to the
// job. Sandboxes all run as the same unprivileged user; the namespaces,
// not the uid, keep them apart. agent.Run's Pause signals bubblewrap's
// process group, not the workload, which is in a session of its own: a
// sandboxed workload is not paused by it.
//
// cgroup v2 is used where /sys/fs/cgroup is the unified hierarchy
// (cgroup.controllers at its root); otherwise the v1 hierarchies of the
// cpu, cpuacct, memory and pids controllers, as on machines with an empty
// unified mount beside them. docs/sandbox.md has the details.
package sandbox
