package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/webhookkit/delivery"
)

// runTelemetry measures the sender's CPU per delivery with telemetry off
// (the global no-op providers, as a host without OpenTelemetry has), with
// metrics alone (the SDK, every metric aggregated by a reader), and with
// metrics and traces (every span sampled, as the SDK's default sampler
// does for a request with no sampled parent, and batched to an exporter
// that drops it), and with metrics and a tenth of the traces sampled, for
// Deliver at concurrency 64 and for the worker draining a backlog of n, on
// memstore and SQLite. The modes alternate, reps times each; the medians
// are compared.
func runTelemetry(n, reps int) error {
	base, stopReceiver, err := startReceiver()
	if err != nil {
		return err
	}
	defer stopReceiver()
	dir, err := os.MkdirTemp("", "deliverybench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Printf("machine: %d cores, %s %s/%s\n", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("\nsender CPU per delivery: telemetry off, metrics, metrics and traces, metrics and 10%% of traces; median of %d alternating runs of %d deliveries\n\n", reps, n)
	fmt.Printf("%-22s %10s %10s %7s %10s %7s %10s %7s %10s %10s\n", "scenario", "cpu off", "metrics", "ratio", "+traces", "ratio", "+10%", "ratio", "rate off", "rate all")
	for _, s := range embedded(dir) {
		for _, kind := range []string{"Deliver c=64", "drain"} {
			runs := make([][]result, 4)
			for range reps {
				for mode := range runs {
					store, done, err := s.store()
					if err != nil {
						return err
					}
					cfg, shutdown := telemetryConfig(mode)
					var r result
					if kind == "drain" {
						r, err = telemetryDrain(store, cfg, base, n)
					} else {
						r, err = telemetryDeliver(store, cfg, base, n)
					}
					shutdown()
					done()
					if err != nil {
						return fmt.Errorf("%s %s: %w", s.name, kind, err)
					}
					runs[mode] = append(runs[mode], r)
				}
			}
			off, metrics, all, sampled := medianCPU(runs[0]), medianCPU(runs[1]), medianCPU(runs[2]), medianCPU(runs[3])
			fmt.Printf("%-22s %10v %10v %6.2fx %10v %6.2fx %10v %6.2fx %10.0f %10.0f\n", s.name+" "+kind, off.cpu.Round(100*time.Nanosecond),
				metrics.cpu.Round(100*time.Nanosecond), float64(metrics.cpu)/float64(off.cpu),
				all.cpu.Round(100*time.Nanosecond), float64(all.cpu)/float64(off.cpu),
				sampled.cpu.Round(100*time.Nanosecond), float64(sampled.cpu)/float64(off.cpu), off.perSec, all.perSec)
		}
	}
	return nil
}

// telemetryConfig returns the Config of a mode of the comparison (0 off,
// 1 metrics, 2 metrics and traces, 3 metrics and a tenth of the traces),
// and what ends its providers.
func telemetryConfig(mode int) (*delivery.Config, func()) {
	tr := delivery.NewTransport(loopback)
	tr.MaxIdleConnsPerHost = 64
	cfg := &delivery.Config{HTTPClient: &http.Client{Transport: tr}, Workers: 64, PerEndpoint: 64, PollInterval: 20 * time.Millisecond}
	if mode == 0 {
		return cfg, tr.CloseIdleConnections
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	sampler := sdktrace.ParentBased(sdktrace.AlwaysSample())
	if mode == 3 {
		sampler = sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.1))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()), sdktrace.WithSampler(sampler))
	cfg.Telemetry = delivery.Telemetry{MeterProvider: mp}
	if mode >= 2 {
		cfg.Telemetry.TracerProvider = tp
	}
	return cfg, func() {
		ctx := context.Background()
		_ = tp.Shutdown(ctx)
		_ = mp.Shutdown(ctx)
		tr.CloseIdleConnections()
	}
}

// telemetryDeliver measures n Deliver calls over 64 goroutines.
func telemetryDeliver(store delivery.Store, cfg *delivery.Config, base string, n int) (result, error) {
	d, err := delivery.NewDispatcher(store, cfg)
	if err != nil {
		return result{}, err
	}
	ep := delivery.Endpoint{ID: "ep_1", URL: base + "/telemetry", Secrets: []string{secret}}
	return measure(n, 64, func(i int) error {
		_, err := d.Deliver(context.Background(), delivery.Event{ID: "evt_" + strconv.Itoa(i), Type: "bench", Payload: payload}, ep)
		return err
	})
}

// telemetryDrain enqueues n attempts to 10 endpoints, then measures the
// worker sending them all.
func telemetryDrain(store delivery.Store, cfg *delivery.Config, base string, n int) (result, error) {
	cfg.LookupEndpoint = lookupAt(base)
	d, err := delivery.NewDispatcher(store, cfg)
	if err != nil {
		return result{}, err
	}
	ctx := context.Background()
	eps := make([]delivery.Endpoint, 10)
	for i := range eps {
		eps[i] = delivery.Endpoint{ID: "ep_" + strconv.Itoa(i), URL: base + "/ep_" + strconv.Itoa(i)}
	}
	for i := range n / len(eps) {
		ev := delivery.Event{ID: "evt_" + strconv.Itoa(i), Type: "bench", Payload: payload}
		if _, err := d.EnqueueMany(ctx, ev, eps, nil); err != nil {
			return result{}, err
		}
	}
	runtime.GC()
	cpuBefore, start := processCPU(), time.Now()
	if err := d.Start(ctx); err != nil {
		return result{}, err
	}
	for {
		time.Sleep(10 * time.Millisecond)
		page, err := store.List(ctx, delivery.ListQuery{Statuses: []delivery.Status{delivery.StatusPending}, Limit: 1})
		if err != nil {
			return result{}, err
		}
		if len(page.Attempts) == 0 {
			break
		}
	}
	elapsed, cpu := time.Since(start), processCPU()-cpuBefore
	if err := d.Stop(ctx); err != nil {
		return result{}, err
	}
	sent := n / len(eps) * len(eps)
	return result{perSec: float64(sent) / elapsed.Seconds(), cpu: cpu / time.Duration(sent)}, nil
}

// medianCPU returns the run with the median CPU per delivery.
func medianCPU(rs []result) result {
	slices.SortFunc(rs, func(a, b result) int { return int(a.cpu - b.cpu) })
	return rs[len(rs)/2]
}
