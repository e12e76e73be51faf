package delivery_test

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
)

func TestDefaultAddressPolicy(t *testing.T) {
	t.Parallel()
	refused := []string{
		"127.0.0.1", "127.255.255.254", "::1",
		"10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "169.254.0.1", "fe80::1", "fe80::1%eth0",
		"fd00:ec2::254", "fc00::1",
		"100.64.0.1", "100.100.100.200", "100.127.255.255",
		"0.0.0.0", "0.1.2.3", "::",
		"224.0.0.1", "239.255.255.250", "ff02::1", "ff05::2",
		"255.255.255.255", "240.0.0.1",
		"192.0.0.192", "192.0.2.1", "198.18.0.1", "198.51.100.7", "203.0.113.9",
		"2001:db8::1", "100::1", "fec0::1", "64:ff9b:1::1",
		// IPv6 forms of forbidden IPv4 addresses.
		"::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.1.2.3",
		"::127.0.0.1", "::10.0.0.1", "::169.254.169.254",
		"64:ff9b::a9fe:a9fe", "64:ff9b::10.0.0.1",
		"2002:a9fe:a9fe::1", "2002:0a00:0001::",
	}
	for _, s := range refused {
		err := delivery.DefaultAddressPolicy(netip.MustParseAddr(s))
		require.ErrorIs(t, err, delivery.ErrAddressForbidden, s)
	}
	allowed := []string{"93.184.216.34", "1.1.1.1", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34", "64:ff9b::808:808", "2002:0808:0808::1", "172.32.0.1", "100.128.0.1", "11.0.0.1"}
	for _, s := range allowed {
		require.NoError(t, delivery.DefaultAddressPolicy(netip.MustParseAddr(s)), s)
	}
	require.ErrorIs(t, delivery.DefaultAddressPolicy(netip.Addr{}), delivery.ErrAddressForbidden)
	err := delivery.DefaultAddressPolicy(netip.MustParseAddr("169.254.169.254"))
	require.ErrorContains(t, err, "169.254.169.254 is a link-local address (such as a cloud metadata service)")
}

func TestAllowNetworks(t *testing.T) {
	t.Parallel()
	p := delivery.AllowNetworks(netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("127.0.0.1/32"))
	require.NoError(t, p(netip.MustParseAddr("10.1.2.3")))
	require.NoError(t, p(netip.MustParseAddr("::ffff:10.1.2.3")), "the mapped form of an allowed address is allowed")
	require.NoError(t, p(netip.MustParseAddr("127.0.0.1")))
	require.NoError(t, p(netip.MustParseAddr("8.8.8.8")), "public addresses stay allowed")
	require.ErrorIs(t, p(netip.MustParseAddr("10.2.0.1")), delivery.ErrAddressForbidden)
	require.ErrorIs(t, p(netip.MustParseAddr("127.0.0.2")), delivery.ErrAddressForbidden)
	require.ErrorIs(t, p(netip.MustParseAddr("169.254.169.254")), delivery.ErrAddressForbidden)
}

// The default client refuses forbidden destinations before connecting,
// records a failure that names the policy, and schedules no retry.
func TestDeliverRefusesForbiddenAddresses(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := receiver(t, func(http.ResponseWriter, *http.Request) { hits.Add(1) })
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	b := setup(t, func(c *delivery.Config) { c.AddressPolicy = nil })
	for _, u := range []string{
		srv.URL,                                    // loopback, where a receiver listens
		"http://localhost" + port,                  // a name that resolves to loopback
		"http://[::ffff:127.0.0.1]" + port,         // the IPv4-mapped form
		"http://169.254.169.254/latest/meta-data/", // the metadata service; no packet leaves: the dialer refuses first
		"http://10.0.0.1/",
		"http://[fd00:ec2::254]/",
	} {
		ev := event
		ev.ID = "evt_" + strings.NewReplacer(":", "_", "/", "_", "[", "_", "]", "_").Replace(u)
		a, err := b.d.Deliver(context.Background(), ev, delivery.Endpoint{ID: "ep_1", URL: u})
		require.ErrorIs(t, err, delivery.ErrDeliveryFailed, u)
		require.Equal(t, delivery.StatusFailure, a.Status, u)
		var aerr *delivery.AttemptError
		require.True(t, errors.As(err, &aerr))
		require.ErrorIs(t, err, delivery.ErrAddressForbidden, u)
		require.Contains(t, a.Error, "forbidden by the address policy", u)
		require.Nil(t, aerr.Next, "a refused address is not retried: %s", u)
		require.ErrorIs(t, aerr.GiveUp, delivery.ErrNotRetryable)
	}
	require.Zero(t, hits.Load(), "the receiver on loopback was never reached")
}

// A host client that follows redirects, on NewTransport, has every hop
// checked: a redirect to the metadata service is refused.
func TestRedirectToMetadataRefused(t *testing.T) {
	t.Parallel()
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/iam/", http.StatusFound)
	})
	tr := delivery.NewTransport(loopback)
	t.Cleanup(tr.CloseIdleConnections)
	b := setup(t, func(c *delivery.Config) { c.HTTPClient = &http.Client{Transport: tr} })
	a, err := b.d.Deliver(context.Background(), event, b.endpoint(srv.URL))
	require.ErrorIs(t, err, delivery.ErrAddressForbidden)
	require.Contains(t, a.Error, "169.254.169.254 is a link-local address")
	require.Equal(t, delivery.StatusFailure, a.Status)
}

func TestGuardProxy(t *testing.T) {
	t.Parallel()
	proxyURL, _ := url.Parse("http://proxy.internal:3128")
	proxy := delivery.GuardProxy(nil, func(*http.Request) (*url.URL, error) { return proxyURL, nil })
	for _, target := range []string{"http://10.0.0.1/", "http://localhost/", "http://[::1]:8080/"} {
		req, _ := http.NewRequest(http.MethodPost, target, nil)
		_, err := proxy(req)
		require.ErrorIs(t, err, delivery.ErrAddressForbidden, target)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://93.184.216.34/", nil)
	got, err := proxy(req)
	require.NoError(t, err)
	require.Equal(t, proxyURL, got)

	direct := delivery.GuardProxy(nil, func(*http.Request) (*url.URL, error) { return nil, nil })
	req, _ = http.NewRequest(http.MethodPost, "http://10.0.0.1/", nil)
	got, err = direct(req)
	require.NoError(t, err, "without a proxy the dialer checks the address")
	require.Nil(t, got)
}

// The policy refuses an address whatever IPv6 form it takes, and never
// panics.
func FuzzAddressPolicy(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::", "8.8.8.8", "fe80::1%lo"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return
		}
		verdict := delivery.DefaultAddressPolicy(addr)
		if addr.Is4() {
			mapped := netip.AddrFrom16(addr.As16())
			require.Equal(t, verdict == nil, delivery.DefaultAddressPolicy(mapped) == nil, "%v and %v differ", addr, mapped)
			b := addr.As4()
			compat := netip.AddrFrom16([16]byte{12: b[0], 13: b[1], 14: b[2], 15: b[3]})
			if verdict != nil {
				require.Error(t, delivery.DefaultAddressPolicy(compat), "%v refused but %v allowed", addr, compat)
			}
		}
		if addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() || addr.IsUnspecified() || addr.IsMulticast() {
			require.ErrorIs(t, verdict, delivery.ErrAddressForbidden, "%v", addr)
		}
	})
}
