package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/hashicorp/go-cleanhttp"
)

// ErrAddressForbidden is wrapped by the error of a request whose destination
// address the AddressPolicy refused. No connection was made. Such an
// attempt is recorded as failed and is not retried.
var ErrAddressForbidden = errors.New("delivery: destination address is forbidden by the address policy")

// AddressPolicy decides whether the sender may connect to an IP address. It
// returns nil to allow it, or an error wrapping ErrAddressForbidden that
// says why not. It sees the address after DNS resolution, at connect time,
// so a DNS name that resolves to a forbidden address, or that changes its
// answer between a check and the connection (DNS rebinding), is refused
// too. It must be safe for concurrent use.
type AddressPolicy func(addr netip.Addr) error

// forbiddenPrefixes are the networks DefaultAddressPolicy refuses beyond
// what the netip.Addr predicates name: special-purpose ranges of RFC 6890
// and its successors.
var forbiddenPrefixes = []struct {
	prefix netip.Prefix
	name   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "the 'this network' range"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT address (RFC 6598)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved or broadcast address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local-use NAT64 address"},
	{netip.MustParsePrefix("100::/64"), "a discard-only address"},
	{netip.MustParsePrefix("2001::/23"), "an IETF protocol assignment"},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
}

// Prefixes of IPv6 forms that carry an IPv4 address, which is checked in
// their place.
var (
	ipv4Compatible = netip.MustParsePrefix("::/96")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
)

// DefaultAddressPolicy allows public unicast addresses only. It refuses
// loopback, private (RFC 1918, and IPv6 unique-local fc00::/7), link-local
// (169.254.0.0/16, which holds the cloud metadata address 169.254.169.254,
// and fe80::/10), carrier-grade NAT (100.64.0.0/10), multicast, broadcast,
// unspecified, documentation, benchmarking and reserved addresses; and the
// same addresses inside the IPv6 forms that embed an IPv4 address
// (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64
// 64:ff9b::/96 and 6to4 2002::/16).
func DefaultAddressPolicy(addr netip.Addr) error {
	if why := forbiddenReason(addr); why != "" {
		return fmt.Errorf("%w: %v is %s", ErrAddressForbidden, addr, why)
	}
	return nil
}

// forbiddenReason says why DefaultAddressPolicy refuses addr, or "".
func forbiddenReason(addr netip.Addr) string {
	addr = addr.WithZone("")
	switch {
	case !addr.IsValid():
		return "not a valid address"
	case addr.Is4In6():
		return forbiddenReason(addr.Unmap())
	case addr.IsUnspecified():
		return "unspecified"
	case addr.IsLoopback():
		return "a loopback address"
	case addr.IsPrivate():
		return "a private address"
	case addr.IsLinkLocalUnicast():
		return "a link-local address (such as a cloud metadata service)"
	case addr.IsMulticast(), addr.IsLinkLocalMulticast(), addr.IsInterfaceLocalMulticast():
		return "a multicast address"
	}
	for _, p := range forbiddenPrefixes {
		if p.prefix.Contains(addr) {
			return p.name
		}
	}
	if addr.Is6() {
		b := addr.As16()
		switch {
		case ipv4Compatible.Contains(addr), nat64.Contains(addr):
			if why := forbiddenReason(netip.AddrFrom4([4]byte(b[12:16]))); why != "" {
				return "an IPv6 form of " + why
			}
		case sixToFour.Contains(addr):
			if why := forbiddenReason(netip.AddrFrom4([4]byte(b[2:6]))); why != "" {
				return "a 6to4 form of " + why
			}
		}
	}
	return ""
}

// AllowNetworks returns a policy that allows the addresses in prefixes, and
// decides the others by DefaultAddressPolicy. Hosts that deliver inside
// their own network use it, and so do tests that deliver to 127.0.0.1.
func AllowNetworks(prefixes ...netip.Prefix) AddressPolicy {
	return func(addr netip.Addr) error {
		plain := addr.WithZone("").Unmap()
		for _, p := range prefixes {
			if p.Contains(plain) || p.Contains(addr.WithZone("")) {
				return nil
			}
		}
		return DefaultAddressPolicy(addr)
	}
}

// NewTransport returns an HTTP transport whose every connection, including
// each hop of a redirect that the client follows, goes only to addresses
// that policy allows (DefaultAddressPolicy when nil). It has go-cleanhttp's
// pooled settings, keeps up to 128 idle connections per host, and reads at
// most 64 KiB of response headers.
//
// It connects directly, ignoring HTTP_PROXY and the like, since a proxy
// connects to the target out of the dialer's sight. A host that sets Proxy
// should wrap its proxy function with GuardProxy.
//
// A Dispatcher without Config.HTTPClient uses such a transport. A host that
// passes its own client is responsible for its safety; this is the building
// block for it: &http.Client{Transport: delivery.NewTransport(policy)}.
func NewTransport(policy AddressPolicy) *http.Transport {
	if policy == nil {
		policy = DefaultAddressPolicy
	}
	t := cleanhttp.DefaultPooledTransport()
	t.Proxy = nil
	t.MaxIdleConnsPerHost = 128
	t.MaxIdleConns = 1024
	t.MaxResponseHeaderBytes = maxResponseHeaderBytes
	dialer := &net.Dialer{
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: cannot read address %q: %v", ErrAddressForbidden, address, err)
			}
			return policy(ap.Addr())
		},
	}
	t.DialContext = dialer.DialContext
	return t
}

// GuardProxy wraps a Transport.Proxy function so that, for a request that
// goes through a proxy, the target's addresses are resolved and checked
// with policy (DefaultAddressPolicy when nil) before the proxy is asked to
// connect. The proxy resolves the name again, so unlike the dialer's check
// this one cannot stop DNS rebinding: the proxy must not reach internal
// networks either.
func GuardProxy(policy AddressPolicy, proxy func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	if policy == nil {
		policy = DefaultAddressPolicy
	}
	return func(req *http.Request) (*url.URL, error) {
		u, err := proxy(req)
		if err != nil || u == nil {
			return u, err
		}
		host := req.URL.Hostname()
		addrs, err := resolve(req.Context(), host)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			if err := policy(a); err != nil {
				return nil, err
			}
		}
		return u, nil
	}
}

// resolve returns the addresses of host, a name or an IP literal.
func resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}
