package eventstore

import (
	"container/list"
	"sync"
)

// lru keeps the most recently written aggregates. It is written here rather
// than taken from a library because it needs nothing but get, put and remove
// under one mutex.
type lru[A any] struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recent; values are *entry[A]
	byID  map[string]*list.Element
}

type entry[A any] struct {
	id        string
	aggregate A
}

func newLRU[A any](max int) *lru[A] {
	return &lru[A]{max: max, order: list.New(), byID: map[string]*list.Element{}}
}

func (c *lru[A]) get(id string) (A, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byID[id]
	if !ok {
		var zero A
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*entry[A]).aggregate, true
}

func (c *lru[A]) put(id string, a A) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[id]; ok {
		el.Value.(*entry[A]).aggregate = a
		c.order.MoveToFront(el)
		return
	}
	c.byID[id] = c.order.PushFront(&entry[A]{id: id, aggregate: a})
	if c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.byID, oldest.Value.(*entry[A]).id)
	}
}

func (c *lru[A]) remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[id]; ok {
		c.order.Remove(el)
		delete(c.byID, id)
	}
}
