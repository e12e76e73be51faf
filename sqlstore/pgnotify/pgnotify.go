// Package pgnotify wakes delivery workers the moment work is committed on
// PostgreSQL, in every process, instead of at their next poll.
//
// sqlstore's InsertTx sends a notification in the host's transaction
// (see sqlstore.Config.NoNotify), which PostgreSQL delivers when the
// transaction commits. A Listener holds one connection of its own that
// listens on the store's channel and wakes a Dispatcher's worker on each
// notification:
//
//	l, err := pgnotify.Listen(ctx, dsn, store.NotifyChannel(), d.Wake)
//	if err != nil {
//		return err
//	}
//	defer l.Close()
//
// Polling (delivery.Config.PollInterval) stays the fallback: a
// notification lost while the Listener reconnects, or an attempt enqueued
// without one (Enqueue in another process, a retry that falls due), is
// found at the next poll. It is its own package because it needs pgx,
// which sqlstore does not import.
package pgnotify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reconnect backoff of a Listener whose connection failed.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// Listener listens on one PostgreSQL channel and calls its wake function on
// every notification. It reconnects, with a growing pause, when its
// connection fails, and wakes once after each reconnection for what it may
// have missed. It is safe for concurrent use.
type Listener struct {
	dsn, channel string
	wake         func()
	cancel       context.CancelFunc
	done         chan struct{}

	mu  sync.Mutex
	err error // the last connection error, for Err
}

// Listen connects to dsn (a pgx connection string or URL), listens on
// channel, and returns once it listens; from then on it calls wake for
// every notification, until Close. wake must not block for long: a
// Dispatcher's Wake never does. It returns an error when the first
// connection or the LISTEN fails, or ctx ends first; ctx only bounds that
// first connection.
func Listen(ctx context.Context, dsn, channel string, wake func()) (*Listener, error) {
	if channel == "" || wake == nil {
		return nil, errors.New("pgnotify: Listen needs a channel and a wake function")
	}
	l := &Listener{dsn: dsn, channel: channel, wake: wake, done: make(chan struct{})}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	go l.run(runCtx, conn)
	return l, nil
}

// connect opens a connection that listens on the channel.
func (l *Listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, l.dsn)
	if err != nil {
		return nil, fmt.Errorf("pgnotify: connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("pgnotify: listen on %s: %w", l.channel, err)
	}
	return conn, nil
}

// run waits for notifications until ctx ends, reconnecting as needed.
func (l *Listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	backoff := minBackoff
	for {
		for conn != nil {
			if _, err := conn.WaitForNotification(ctx); err != nil {
				_ = conn.Close(context.WithoutCancel(ctx))
				conn = nil
				if ctx.Err() != nil {
					return
				}
				l.setErr(err)
				break
			}
			backoff = minBackoff
			l.wake()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
		var err error
		if conn, err = l.connect(ctx); err != nil {
			l.setErr(err)
			continue
		}
		l.setErr(nil)
		l.wake() // for what may have been committed while it was away
	}
}

func (l *Listener) setErr(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

// Err returns the error of the Listener's connection while it is trying to
// reconnect, or nil while it listens.
func (l *Listener) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Close stops listening, closes the connection, and returns once the
// Listener's goroutine has ended. A second Close does nothing.
func (l *Listener) Close() error {
	l.cancel()
	<-l.done
	return nil
}
