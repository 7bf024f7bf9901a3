package cqrs

import (
	"errors"
	"hash/fnv"
	"strconv"
	"strings"
)

// Topics names every topic of the system.
//
// Events go to one topic per aggregate type, so that one consumer sees all
// events of an aggregate in the order they were stored, split into partitions
// by the aggregate id, so that several consumers work in parallel while every
// aggregate stays on one of them: partitions give throughput without
// reordering.
type Topics struct {
	// Prefix is put before every topic name, to run several systems on one broker.
	Prefix string
	// Partitions is how many partitions each topic has. Changing it moves
	// aggregates between partitions: drain the system first.
	Partitions int
}

// Validate checks the partition count.
func (t Topics) Validate() error {
	if t.Partitions < 1 || t.Partitions > 256 {
		return errors.New("partitions must be between 1 and 256")
	}
	return nil
}

// Partition is the partition of an aggregate id.
func (t Topics) Partition(aggregateID string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(aggregateID))
	return int(h.Sum32() % uint32(t.Partitions))
}

// Events is the topic of one partition of an aggregate type's events.
func (t Topics) Events(aggregateType string, partition int) string {
	return t.Prefix + "events." + aggregateType + "." + strconv.Itoa(partition)
}

// Poison is the topic of messages that could not be handled.
func (t Topics) Poison() string { return t.Prefix + "poison" }

// Family names a topic without the prefix and the partition
// ("events.order"), the same for every partition of it.
func (t Topics) Family(topic string) string {
	topic = strings.TrimPrefix(topic, t.Prefix)
	if i := strings.LastIndexByte(topic, '.'); i >= 0 {
		if _, err := strconv.Atoi(topic[i+1:]); err == nil {
			return topic[:i]
		}
	}
	return topic
}
