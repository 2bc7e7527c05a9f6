package ingest

import (
	"math"
	"time"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

const (
	microsPerHour = int64(time.Hour / time.Microsecond)
	microsPerDay  = 24 * microsPerHour
)

// Partition name layouts (time.Format) by partitioning, all in UTC.
const (
	hourLayout  = "2006-01-02T15"
	dayLayout   = "2006-01-02"
	monthLayout = "2006-01"
)

// normPartitioning maps UNSPECIFIED (and any unknown value) to DAY.
func normPartitioning(p miniodbv1.Partitioning) miniodbv1.Partitioning {
	switch p {
	case miniodbv1.Partitioning_PARTITIONING_NONE, miniodbv1.Partitioning_PARTITIONING_HOUR,
		miniodbv1.Partitioning_PARTITIONING_DAY, miniodbv1.Partitioning_PARTITIONING_MONTH:
		return p
	}
	return miniodbv1.Partitioning_PARTITIONING_DAY
}

// PartitionOf returns the partition of a row whose ts is tsMicros
// (microseconds since the epoch, UTC): "2006-01-02" for DAY (and UNSPECIFIED,
// and any unknown value), "2006-01-02T15" for HOUR, "2006-01" for MONTH, ""
// for NONE. Partition names of one table sort in time order (years 0-9999).
func PartitionOf(p miniodbv1.Partitioning, tsMicros int64) string {
	p = normPartitioning(p)
	return partName(p, partKey(p, tsMicros))
}

// PartitionBounds returns the half-open range [lo, hi) of ts values
// (microseconds since the epoch, UTC) that partition covers, for pruning. ok
// is false when partition is not a name PartitionOf returns for p. NONE's one
// partition "" covers [math.MinInt64, math.MaxInt64).
func PartitionBounds(p miniodbv1.Partitioning, partition string) (lo, hi int64, ok bool) {
	p = normPartitioning(p)
	if p == miniodbv1.Partitioning_PARTITIONING_NONE {
		if partition != "" {
			return 0, 0, false
		}
		return math.MinInt64, math.MaxInt64, true
	}
	var layout string
	switch p {
	case miniodbv1.Partitioning_PARTITIONING_HOUR:
		layout = hourLayout
	case miniodbv1.Partitioning_PARTITIONING_MONTH:
		layout = monthLayout
	default:
		layout = dayLayout
	}
	t, err := time.Parse(layout, partition)
	if err != nil || t.Format(layout) != partition {
		return 0, 0, false
	}
	lo = t.UnixMicro()
	switch p {
	case miniodbv1.Partitioning_PARTITIONING_HOUR:
		hi = lo + microsPerHour
	case miniodbv1.Partitioning_PARTITIONING_MONTH:
		hi = t.AddDate(0, 1, 0).UnixMicro()
	default:
		hi = lo + microsPerDay
	}
	return lo, hi, true
}

// partKey numbers partitions in time order: hours or days since the epoch,
// or year*12+month-1. p must be normalised.
func partKey(p miniodbv1.Partitioning, ts int64) int64 {
	switch p {
	case miniodbv1.Partitioning_PARTITIONING_NONE:
		return 0
	case miniodbv1.Partitioning_PARTITIONING_HOUR:
		return floorDiv(ts, microsPerHour)
	case miniodbv1.Partitioning_PARTITIONING_MONTH:
		y, m, _ := civilFromDays(floorDiv(ts, microsPerDay))
		return y*12 + m - 1
	}
	return floorDiv(ts, microsPerDay)
}

// partName formats a partKey. p must be normalised.
func partName(p miniodbv1.Partitioning, key int64) string {
	switch p {
	case miniodbv1.Partitioning_PARTITIONING_NONE:
		return ""
	case miniodbv1.Partitioning_PARTITIONING_HOUR:
		return time.UnixMicro(key * microsPerHour).UTC().Format(hourLayout)
	case miniodbv1.Partitioning_PARTITIONING_MONTH:
		y, m := floorDiv(key, 12), key-floorDiv(key, 12)*12+1
		return time.Date(int(y), time.Month(m), 1, 0, 0, 0, 0, time.UTC).Format(monthLayout)
	}
	return time.UnixMicro(key * microsPerDay).UTC().Format(dayLayout)
}
