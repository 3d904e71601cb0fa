package scheduler

// indexedHeap is a binary min-heap of entries that know their own position,
// so that an entry can be removed or re-keyed in O(log n) without a search.
// Every policy that must pick among thousands of vcoprocs keeps its
// runnable set in one: a decision then costs O(log n), not O(n).
type indexedHeap[T any] struct {
	items []*T
	less  func(a, b *T) bool
	index func(*T) *int // where the entry keeps its position; -1 when out
}

func newIndexedHeap[T any](less func(a, b *T) bool, index func(*T) *int) indexedHeap[T] {
	return indexedHeap[T]{less: less, index: index}
}

func (h *indexedHeap[T]) len() int { return len(h.items) }

func (h *indexedHeap[T]) top() *T {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

func (h *indexedHeap[T]) contains(x *T) bool {
	i := *h.index(x)
	return i >= 0 && i < len(h.items) && h.items[i] == x
}

func (h *indexedHeap[T]) push(x *T) {
	*h.index(x) = len(h.items)
	h.items = append(h.items, x)
	h.up(len(h.items) - 1)
}

func (h *indexedHeap[T]) pop() *T {
	if len(h.items) == 0 {
		return nil
	}
	x := h.items[0]
	h.remove(x)
	return x
}

func (h *indexedHeap[T]) remove(x *T) {
	if !h.contains(x) {
		return
	}
	i := *h.index(x)
	last := len(h.items) - 1
	if i != last {
		h.swap(i, last)
	}
	h.items[last] = nil
	h.items = h.items[:last]
	*h.index(x) = -1
	if i != last {
		h.fixAt(i)
	}
}

// fix restores the heap after x's key changed.
func (h *indexedHeap[T]) fix(x *T) {
	if h.contains(x) {
		h.fixAt(*h.index(x))
	}
}

func (h *indexedHeap[T]) fixAt(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h *indexedHeap[T]) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	*h.index(h.items[i]) = i
	*h.index(h.items[j]) = j
}

func (h *indexedHeap[T]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *indexedHeap[T]) down(i0 int) bool {
	i, n := i0, len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h.less(h.items[r], h.items[l]) {
			m = r
		}
		if !h.less(h.items[m], h.items[i]) {
			break
		}
		h.swap(i, m)
		i = m
	}
	return i > i0
}
