package batch

// fifo is the queue of waiting requests. Popping advances a head index
// rather than shifting, so taking a batch costs its size, not the queue's.
type fifo[T any] struct {
	items []*T
	head  int
}

func (q *fifo[T]) len() int { return len(q.items) - q.head }

func (q *fifo[T]) push(x *T) {
	if q.head > 0 && len(q.items) == cap(q.items) && q.head >= len(q.items)/2 {
		// Reuse the consumed front instead of growing.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
	q.items = append(q.items, x)
}

// front returns the oldest item; the queue must not be empty.
func (q *fifo[T]) front() *T { return q.items[q.head] }

// pop removes and returns the oldest item; the queue must not be empty.
func (q *fifo[T]) pop() *T {
	x := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items = q.items[:0]
		q.head = 0
	}
	return x
}

// remove takes x out of the queue wherever it is; it reports whether x
// was there.
func (q *fifo[T]) remove(x *T) bool {
	for i := q.head; i < len(q.items); i++ {
		if q.items[i] == x {
			copy(q.items[i:], q.items[i+1:])
			q.items[len(q.items)-1] = nil
			q.items = q.items[:len(q.items)-1]
			if q.head == len(q.items) {
				q.items = q.items[:0]
				q.head = 0
			}
			return true
		}
	}
	return false
}
