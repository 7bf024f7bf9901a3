package memory_test

import (
	"testing"

	"shop/app/personal"
	"shop/app/personal/keystest"
	"shop/infrastructure/memory"
)

func TestPersonalKeys(t *testing.T) {
	keystest.Keys(t, func(*testing.T) personal.Keys { return memory.NewPersonalKeys() })
}
