package backup

import (
	"testing"

	"github.com/miniodb/miniodb/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }
