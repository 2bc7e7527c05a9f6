package compaction

import (
	"testing"

	"github.com/miniodb/miniodb/internal/leaktest"
)

// TestMain fails the package's tests when a goroutine outlives them.
func TestMain(m *testing.M) { leaktest.Main(m) }
