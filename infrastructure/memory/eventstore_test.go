package memory_test

import (
	"testing"

	"shop/app/eventstore"
	"shop/app/eventstore/eventstoretest"
	"shop/infrastructure/memory"
)

func TestEventStore(t *testing.T) {
	t.Parallel()
	eventstoretest.Run(t, func(_ *testing.T, codec eventstore.Codec) eventstore.Store {
		return memory.NewEventStore(codec)
	})
}
