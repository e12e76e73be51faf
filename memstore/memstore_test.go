package memstore_test

import (
	"go.uber.org/goleak"

	"testing"

	"github.com/webhookkit/delivery"
	"github.com/webhookkit/delivery/memstore"
	"github.com/webhookkit/delivery/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) delivery.Store { return memstore.New() })
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
