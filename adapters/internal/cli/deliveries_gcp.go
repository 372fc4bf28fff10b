package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	monitoring "google.golang.org/api/monitoring/v3"
	"google.golang.org/api/option"

	"github.com/geminiwebhooks/receiver/adapters/internal/env"
)

// deliveriesMetric is the log-based counter deploy/gcp/deploy.sh makes on
// the delivery and task lines (labels outcome, and line: the log line's
// message, "delivery" or "task").
const deliveriesMetric = "logging.googleapis.com/user/gemini_webhook_deliveries"

// monitoringDeliveries reads the per-outcome counts of the delivery line
// from Cloud Monitoring (projects.timeSeries.list), summed over [from, to)
// and across series per outcome by the service itself. REST, Application
// Default Credentials; the admin CLI's alone (the functions never link it).
func monitoringDeliveries(ctx context.Context, getenv func(string) string, project string, from, to time.Time) (map[string]int64, string, error) {
	if project == "" {
		return nil, "", errors.New("GOOGLE_CLOUD_PROJECT is unset")
	}
	opts := []option.ClientOption{}
	adm, err := env.LoadAdmin(getenv)
	if err != nil {
		return nil, "", err
	}
	// MONITORING_EMULATOR_HOST: a test stand-in on a loopback address
	// (Cloud Monitoring has no emulator).
	if host := adm.MonitoringEmulatorHost; host != "" {
		opts = append(opts, option.WithEndpoint("http://"+host+"/"), option.WithoutAuthentication())
	}
	svc, err := monitoring.NewService(ctx, opts...)
	if err != nil {
		return nil, "", fmt.Errorf("cloud monitoring: %w", err)
	}
	where := "Cloud Monitoring " + deliveriesMetric + " in projects/" + project
	window := to.Sub(from).Truncate(time.Second)
	counts := map[string]int64{}
	err = svc.Projects.TimeSeries.List("projects/"+project).
		Filter(`metric.type="`+deliveriesMetric+`" AND metric.labels.line="delivery"`).
		IntervalStartTime(from.UTC().Format(time.RFC3339)).
		IntervalEndTime(to.UTC().Format(time.RFC3339)).
		AggregationAlignmentPeriod(fmt.Sprintf("%ds", int64(window.Seconds()))).
		AggregationPerSeriesAligner("ALIGN_SUM").
		AggregationCrossSeriesReducer("REDUCE_SUM").
		AggregationGroupByFields("metric.label.outcome").
		Pages(ctx, func(r *monitoring.ListTimeSeriesResponse) error {
			for _, ts := range r.TimeSeries {
				if ts.Metric == nil {
					continue
				}
				for _, p := range ts.Points {
					if p.Value != nil && p.Value.Int64Value != nil {
						counts[ts.Metric.Labels["outcome"]] += *p.Value.Int64Value
					}
				}
			}
			return nil
		})
	if err != nil {
		return nil, "", fmt.Errorf("cloud monitoring timeSeries.list: %w", err)
	}
	return counts, where, nil
}
