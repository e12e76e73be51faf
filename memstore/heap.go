package memstore

// rowHeap is a heap.Interface of pending rows, first the row that before
// puts first. Each row knows its place, so that it can be taken out or
// moved when it is completed, leased or released.
type rowHeap struct {
	rows   []*row
	before func(a, b *row) bool
}

// scheduledBefore orders attempts as Claim takes them: by schedule, then
// by ID.
func scheduledBefore(a, b *row) bool {
	x, y := a.attempt, b.attempt
	if !x.ScheduledAt.Equal(y.ScheduledAt) {
		return x.ScheduledAt.Before(y.ScheduledAt)
	}
	return x.ID < y.ID
}

// leaseEndsBefore orders leased attempts by the end of their lease.
func leaseEndsBefore(a, b *row) bool { return a.lease.Until.Before(b.lease.Until) }

func (h *rowHeap) Len() int           { return len(h.rows) }
func (h *rowHeap) Less(i, j int) bool { return h.before(h.rows[i], h.rows[j]) }

func (h *rowHeap) Swap(i, j int) {
	h.rows[i], h.rows[j] = h.rows[j], h.rows[i]
	h.rows[i].index, h.rows[j].index = i, j
}

// Push adds x, a *row.
func (h *rowHeap) Push(x any) {
	r := x.(*row)
	r.heap, r.index = h, len(h.rows)
	h.rows = append(h.rows, r)
}

// Pop removes and returns the last row.
func (h *rowHeap) Pop() any {
	n := len(h.rows) - 1
	r := h.rows[n]
	h.rows[n] = nil
	h.rows = h.rows[:n]
	r.heap = nil
	return r
}
