package metrics

import (
	"github.com/pbxha/pbxha/control"
	"github.com/prometheus/client_golang/prometheus"
)

// SyncFuncs registers the file sync and standby rebuild metrics, read at
// every scrape: sync (nil without file sync) and rebuild (nil without
// rebuilds; it returns nil until one ran) report as the status does.
func (m *Metrics) SyncFuncs(sync func() control.Sync, rebuild func() *control.Rebuild) {
	m.reg.MustRegister(&syncCollector{sync: sync, rebuild: rebuild})
}

var (
	dirLabel       = []string{"dir"}
	syncLastOK     = prometheus.NewDesc("pbxha_sync_last_success_timestamp_seconds", "When the directory's last complete pull began (Unix time); absent before the first.", dirLabel, nil)
	syncAge        = prometheus.NewDesc("pbxha_sync_age_seconds", "Age of this node's copy of the directory: time since its last complete pull began.", dirLabel, nil)
	syncLagging    = prometheus.NewDesc("pbxha_sync_lagging", "1 while the standby's copy is older than sync.lag_alert, else 0.", dirLabel, nil)
	syncFiles      = prometheus.NewDesc("pbxha_sync_files_total", "Files transferred by complete pulls since pbxha started.", dirLabel, nil)
	syncDeleted    = prometheus.NewDesc("pbxha_sync_deleted_total", "Files deleted by complete pulls since pbxha started.", dirLabel, nil)
	syncBytes      = prometheus.NewDesc("pbxha_sync_bytes_total", "Bytes received by complete pulls since pbxha started.", dirLabel, nil)
	syncRate       = prometheus.NewDesc("pbxha_sync_rate_bytes_per_second", "Rate of the last complete pull.", dirLabel, nil)
	syncRuns       = prometheus.NewDesc("pbxha_sync_runs_total", "Pulls run, complete or not.", dirLabel, nil)
	syncFailures   = prometheus.NewDesc("pbxha_sync_failures_total", "Pulls that failed or were refused.", dirLabel, nil)
	syncPulling    = prometheus.NewDesc("pbxha_sync_pulling", "1 while this node pulls (standby of a live primary), else 0.", nil, nil)
	rebuildRunning = prometheus.NewDesc("pbxha_standby_rebuild_running", "1 while a standby rebuild runs, else 0.", nil, nil)
	rebuildRatio   = prometheus.NewDesc("pbxha_standby_rebuild_progress_ratio", "The running or last rebuild's clone progress, 0 to 1.", nil, nil)
	rebuildDone    = prometheus.NewDesc("pbxha_standby_rebuild_bytes_done", "Bytes the running or last rebuild cloned.", nil, nil)
	rebuildTotal   = prometheus.NewDesc("pbxha_standby_rebuild_bytes_total", "Bytes pg_basebackup expects to clone (an estimate that may grow).", nil, nil)
)

type syncCollector struct {
	sync    func() control.Sync
	rebuild func() *control.Rebuild
}

func (c *syncCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{syncLastOK, syncAge, syncLagging, syncFiles, syncDeleted, syncBytes, syncRate, syncRuns,
		syncFailures, syncPulling, rebuildRunning, rebuildRatio, rebuildDone, rebuildTotal} {
		ch <- d
	}
}

func (c *syncCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	if c.sync != nil {
		st := c.sync()
		gauge(syncPulling, b2f(st.Direction == "pull"))
		for _, d := range st.Directories {
			if d.LastSuccess != nil {
				gauge(syncLastOK, float64(d.LastSuccess.UnixNano())/1e9, d.Name)
				gauge(syncAge, d.AgeSeconds, d.Name)
			}
			gauge(syncLagging, b2f(d.Lagging), d.Name)
			gauge(syncRate, d.RateBps, d.Name)
			counter(syncFiles, float64(d.TotalFiles), d.Name)
			counter(syncDeleted, float64(d.TotalDeleted), d.Name)
			counter(syncBytes, float64(d.TotalBytes), d.Name)
			counter(syncRuns, float64(d.Runs), d.Name)
			counter(syncFailures, float64(d.Failures), d.Name)
		}
	}
	if c.rebuild != nil {
		rb := c.rebuild()
		gauge(rebuildRunning, b2f(rb != nil && rb.State == "running"))
		if rb != nil {
			gauge(rebuildRatio, rb.Percent/100)
			gauge(rebuildDone, float64(rb.DoneBytes))
			gauge(rebuildTotal, float64(rb.TotalBytes))
		}
	}
}
