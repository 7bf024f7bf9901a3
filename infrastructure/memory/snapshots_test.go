package memory_test

import (
	"testing"

	"shop/app/eventstore"
	"shop/app/eventstore/eventstoretest"
	"shop/infrastructure/memory"
)

func TestSnapshots(t *testing.T) {
	eventstoretest.Snapshots(t, func(*testing.T) eventstore.Snapshots { return memory.NewSnapshots() })
}
