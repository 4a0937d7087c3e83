// Command pause is the process of a pod's sandbox: it holds the pod's namespaces open until
// the runtime stops it. When the pod shares one PID namespace it is PID 1 there, so it also
// reaps the zombies of orphaned processes. SIGINT and SIGTERM end it cleanly (exit 0).
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is printed by -v; the image tag carries the same value.
const version = "3.10-mk1"

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-v" || os.Args[1] == "--version") {
		fmt.Println("pause (microk8s) " + version)
		return
	}
	// Buffered: signals arriving while we reap are not lost (one SIGCHLD may stand for many
	// children, which the loop in reap covers).
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		os.Exit(0)
	}
}

// reap collects every child that has exited, without blocking.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
	}
}
