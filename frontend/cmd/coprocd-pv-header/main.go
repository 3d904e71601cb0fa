// Command coprocd-pv-header writes the C header of coprocd's paravirtual
// protocol, generated from the spec tables, to standard output:
//
//	go run ./frontend/cmd/coprocd-pv-header > coprocd_pv.h
package main

import (
	"fmt"
	"os"

	"github.com/coprocd/coprocd/frontend/cheader"
)

func main() {
	if err := cheader.Write(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "coprocd-pv-header:", err)
		os.Exit(1)
	}
}
