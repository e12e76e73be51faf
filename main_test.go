package delivery_test

import (
	"fmt"
	"net/netip"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/webhookkit/delivery"
)

// loopback lets tests deliver to their httptest receivers on 127.0.0.1,
// which DefaultAddressPolicy refuses.
var loopback = delivery.AllowNetworks(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))

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
