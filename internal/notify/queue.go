package notify

import "sync"

// queue is a bounded FIFO of messages for one target. push never blocks:
// when the queue is full it drops the oldest message, since a newer one
// says more about the state now.
type queue struct {
	mu    sync.Mutex
	items []*message
	limit int
	ready chan struct{} // has a token while items may be non-empty
}

func newQueue(limit int) *queue {
	return &queue{limit: max(1, limit), ready: make(chan struct{}, 1)}
}

// push appends m and reports how many messages it dropped (0 or 1).
func (q *queue) push(m *message) int {
	q.mu.Lock()
	dropped := 0
	if len(q.items) >= q.limit {
		q.items[0] = nil
		q.items = q.items[1:]
		dropped = 1
	}
	q.items = append(q.items, m)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return dropped
}

// pop takes the oldest message; ok is false when the queue is empty.
func (q *queue) pop() (m *message, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil, false
	}
	m = q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	return m, true
}

// clear empties the queue and returns how many messages it held.
func (q *queue) clear() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.items)
	q.items = nil
	return n
}
