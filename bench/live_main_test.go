package bench

import (
	"bufio"
	"fmt"
	"os"
	"testing"
)

// TestMain lets the test binary be a live run's guest: the harness starts
// its guests as "<executable> bench guest --spec ...", and in a test the
// executable is this binary. "fail-guest" is a guest that says ready,
// takes the start instant and fails, for the harness's error path.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "bench" && os.Args[2] == "guest" {
		cmd := NewCommand()
		cmd.SetArgs(os.Args[2:])
		if err := cmd.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	if len(os.Args) > 1 && os.Args[1] == "fail-guest" {
		fmt.Println("ready")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		fmt.Fprintln(os.Stderr, "injected failure: the device went away")
		os.Exit(3)
	}
	os.Exit(m.Run())
}
