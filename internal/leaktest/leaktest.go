// Package leaktest is the TestMain of packages whose tests must not leave
// goroutines behind: it runs the tests, then fails the package when a
// goroutine outlives them (go.uber.org/goleak). Test code only.
package leaktest

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Main runs m's tests and exits with their status, or 1 when they passed
// but left goroutines running. Idle keep-alive connections of
// http.DefaultClient (the tests' own client) are closed first.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		http.DefaultClient.CloseIdleConnections()
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines leaked by the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
