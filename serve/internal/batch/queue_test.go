package batch

import (
	"slices"
	"testing"
)

func TestFifo(t *testing.T) {
	var q fifo[int]
	vals := make([]*int, 10)
	for i := range vals {
		vals[i] = new(int)
		*vals[i] = i
	}
	drain := func() []int {
		var out []int
		for q.len() > 0 {
			out = append(out, *q.pop())
		}
		return out
	}
	for _, v := range vals[:5] {
		q.push(v)
	}
	if *q.front() != 0 || *q.pop() != 0 || *q.pop() != 1 {
		t.Fatal("pop order")
	}
	if !q.remove(vals[3]) || q.remove(vals[3]) || q.remove(vals[0]) {
		t.Fatal("remove")
	}
	for _, v := range vals[5:] {
		q.push(v) // reuses the consumed front once full
	}
	if got := drain(); !slices.Equal(got, []int{2, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("drained %v", got)
	}
	q.push(vals[1])
	if !q.remove(vals[1]) || q.len() != 0 || q.head != 0 {
		t.Fatalf("remove of the last item: len %d head %d", q.len(), q.head)
	}
}

func TestFifoReusesConsumedFront(t *testing.T) {
	var q fifo[int]
	vals := make([]*int, 9)
	for i := range vals {
		vals[i] = new(int)
		*vals[i] = i
	}
	for _, v := range vals[:8] {
		q.push(v)
	}
	for q.len() < cap(q.items) {
		q.push(vals[8]) // fill to capacity, whatever it is
	}
	c := cap(q.items)
	for range c / 2 {
		q.pop()
	}
	q.push(vals[0])
	if cap(q.items) != c || q.head != 0 || q.len() != c-c/2+1 {
		t.Fatalf("cap %d (was %d), head %d, len %d", cap(q.items), c, q.head, q.len())
	}
	if *q.items[q.len()-1] != 0 {
		t.Fatal("pushed item not last")
	}
}
