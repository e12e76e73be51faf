package delivery_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/webhookkit/delivery"
)

// TestMain fails the run if a test leaves a goroutine behind. Idle
// keep-alive connections of the shared client are closed first: they are
// pooled on purpose, not leaked.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		delivery.DefaultClient.CloseIdleConnections()
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
