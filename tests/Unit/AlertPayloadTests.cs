using System.Text;
using System.Text.Json;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>Every sample payload (written from each sender's documented schema) read into alerts, and every way a payload is refused.</summary>
public class AlertPayloadTests
{
    internal static string Sample(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "alerts", name));

    private static RollbackException Refused(string body, IReadOnlyDictionary<string, string>? headers = null) =>
        Assert.Throws<RollbackException>(() => AlertPayload.Parse(body, headers));

    [Fact]
    public void Azure_metric_alert_fired_gives_its_rule_status_resource_and_condition()
    {
        var alert = Assert.Single(AlertPayload.Parse(Sample("azure-metric-fired.json")));

        Assert.Equal(AlertSource.AzureMonitor, alert.Source);
        Assert.Equal(AlertStatus.Firing, alert.Status);
        Assert.True(alert.Act);
        Assert.Equal("checkout-http-5xx", alert.AlertName);
        Assert.Equal("Sev1", alert.Severity);
        var alertId = "/subscriptions/11111111-2222-4333-8444-555555555555/providers/Microsoft.AlertsManagement/alerts/6f0c1e9a-3b7d-4c52-9e1f-2a8d7c4b0e31";
        Assert.Equal(alertId, alert.GroupKey);
        Assert.Equal(alertId, alert.Fingerprint);
        Assert.Equal(new DateTimeOffset(2026, 3, 4, 9, 12, 41, TimeSpan.Zero).AddTicks(5820311), alert.StartsAt);
        Assert.Null(alert.EndsAt);
        Assert.Equal("checkout-web", alert.Labels["resource"]);
        Assert.Equal("shop-prod", alert.Labels["resource_group"]);
        Assert.Equal("11111111-2222-4333-8444-555555555555", alert.Labels["subscription_id"]);
        Assert.EndsWith("/providers/Microsoft.Web/sites/checkout-web", alert.Labels["resource_id"]);
        Assert.Equal("Metric", alert.Labels["signalType"]);
        Assert.Equal("Platform", alert.Labels["monitoringService"]);
        Assert.Equal("checkout-http-5xx", alert.Labels["alertname"]);
        Assert.Equal("checkout", alert.Labels["service"]);
        Assert.Equal("payments", alert.Labels["team"]);
        Assert.Equal("checkout-web-7d9f", alert.Labels["Instance"]);
        Assert.Equal("More than 20 server errors a minute on checkout", alert.Summary);
        Assert.Equal("Http5xx GreaterThan 20 (value 57)", alert.Annotations["condition"]);
        Assert.Equal(SignalNames.HealthCheckFailed, alert.SignalName);
        Assert.Equal("Azure Monitor alert checkout-http-5xx firing: More than 20 server errors a minute on checkout", alert.Reason);
    }

    [Fact]
    public void Azure_metric_alert_resolved_is_the_same_alert_not_acted_on()
    {
        var fired = Assert.Single(AlertPayload.Parse(Sample("azure-metric-fired.json")));
        var resolved = Assert.Single(AlertPayload.Parse(Sample("azure-metric-resolved.json")));

        Assert.Equal(AlertStatus.Resolved, resolved.Status);
        Assert.False(resolved.Act);
        Assert.Equal(fired.Fingerprint, resolved.Fingerprint);
        Assert.Equal(fired.StartsAt, resolved.StartsAt);
        Assert.Equal(new DateTimeOffset(2026, 3, 4, 9, 31, 7, TimeSpan.Zero).AddTicks(1049823), resolved.EndsAt);
        Assert.Equal("Http5xx GreaterThan 20 (value 3)", resolved.Annotations["condition"]);
        Assert.StartsWith("Azure Monitor alert checkout-http-5xx resolved", resolved.Reason);
    }

    [Fact]
    public void Azure_log_alert_takes_its_dimensions_as_labels_and_speaks_of_a_deployment()
    {
        var alert = Assert.Single(AlertPayload.Parse(Sample("azure-log-fired.json")));

        Assert.Equal("orders-deployment-errors", alert.AlertName);
        Assert.Equal(SignalNames.DeploymentFailed, alert.SignalName);
        Assert.Equal("orders", alert.Labels["service"]);
        Assert.Equal("orders-api", alert.Labels["resource"]);
        Assert.Equal("shop-prod", alert.Labels["resource_group"]);
        Assert.Equal("Log Alerts V2", alert.Labels["monitoringService"]);
        Assert.Equal("https://wiki.example.invalid/orders/rollback", alert.Labels["runbook"]);
        // An empty description gives way to the condition.
        Assert.Equal("log query result GreaterThan 10 (value 42.0)", alert.Summary);
    }

    [Fact]
    public void Alertmanager_group_of_two_firing_alerts_gives_each_with_the_common_labels()
    {
        var alerts = AlertPayload.Parse(Sample("alertmanager-firing.json"));

        Assert.Equal(2, alerts.Count);
        var errors = alerts[0];
        Assert.Equal(AlertSource.Alertmanager, errors.Source);
        Assert.Equal("CheckoutHighErrorRate", errors.AlertName);
        Assert.Equal(AlertStatus.Firing, errors.Status);
        Assert.Equal("4f9a0c2d81e6b357", errors.Fingerprint);
        Assert.Equal("{}/{env=\"prod\"}:{env=\"prod\"}", errors.GroupKey);
        Assert.Equal("critical", errors.Severity);
        Assert.Equal("checkout", errors.Labels["service"]);
        Assert.Equal("eu-west", errors.Labels["cluster"]);
        Assert.Equal("prod", errors.Labels["env"]);
        Assert.Equal("error ratio 0.41 > 0.2", errors.Summary);
        Assert.Equal("https://wiki.example.invalid/runbooks/checkout-errors", errors.Annotations["runbook_url"]);
        Assert.Equal(DateTimeOffset.Parse("2026-03-04T09:14:05.318Z"), errors.StartsAt);
        Assert.Null(errors.EndsAt);
        Assert.Equal(SignalNames.HealthCheckFailed, errors.SignalName);
        Assert.Equal("Alertmanager alert CheckoutHighErrorRate firing: error ratio 0.41 > 0.2", errors.Reason);

        var rollout = alerts[1];
        Assert.Equal("KubeDeploymentRolloutStuck", rollout.AlertName);
        Assert.Equal(SignalNames.DeploymentFailed, rollout.SignalName);
        Assert.Equal("web", rollout.Labels["deployment"]);
        Assert.Equal("shop", rollout.Labels["namespace"]);
        Assert.Equal("Rollout of deployment shop/web has made no progress for 15 minutes.", rollout.Summary);
        Assert.Equal("a1d27e95c03b4f68", rollout.Fingerprint);
    }

    [Fact]
    public void Alertmanager_resolved_alert_has_its_end_and_is_not_acted_on()
    {
        var alert = Assert.Single(AlertPayload.Parse(Sample("alertmanager-resolved.json")));

        Assert.Equal(AlertStatus.Resolved, alert.Status);
        Assert.False(alert.Act);
        Assert.Equal("4f9a0c2d81e6b357", alert.Fingerprint);
        Assert.Equal(DateTimeOffset.Parse("2026-03-04T09:29:50.771Z"), alert.EndsAt);
        Assert.Equal("Alertmanager alert CheckoutHighErrorRate resolved: error ratio 0.41 > 0.2", alert.Reason);
    }

    [Fact]
    public void Grafana_webhook_is_told_from_alertmanager_and_gives_firing_and_resolved()
    {
        var alerts = AlertPayload.Parse(Sample("grafana-firing.json"));

        Assert.Equal(2, alerts.Count);
        Assert.All(alerts, a => Assert.Equal(AlertSource.Grafana, a.Source));
        Assert.Equal("Search latency p99", alerts[0].AlertName);
        Assert.Equal(AlertStatus.Firing, alerts[0].Status);
        Assert.Equal("p99 latency of search is 2.4 s (limit 1 s)", alerts[0].Summary);
        Assert.Equal("search", alerts[0].Labels["service"]);
        Assert.Equal("{}/{}:{grafana_folder=\"Shop\"}", alerts[0].GroupKey);
        Assert.Equal(new DateTimeOffset(2026, 3, 4, 10, 20, 0, TimeSpan.Zero), alerts[0].StartsAt!.Value.ToUniversalTime());
        Assert.Equal(AlertStatus.Resolved, alerts[1].Status);
        // Without annotations, Grafana's value string says what was measured.
        Assert.Equal("[ var='B' labels={service=search} value=0.8 ]", alerts[1].Summary);
        Assert.Equal(new DateTimeOffset(2026, 3, 4, 10, 15, 0, TimeSpan.Zero), alerts[1].EndsAt!.Value.ToUniversalTime());
    }

    [Fact]
    public void Structured_cloudevent_asks_for_its_signal_by_type_and_lends_its_extensions_as_labels()
    {
        var alert = Assert.Single(AlertPayload.Parse(Sample("cloudevent-structured.json"), new Dictionary<string, string> { ["Content-Type"] = "application/cloudevents+json" }));

        Assert.Equal(AlertSource.CloudEvents, alert.Source);
        Assert.Equal(SignalNames.DeploymentFailed, alert.SignalName);
        Assert.Equal("PaymentsDeployFailed", alert.AlertName);
        Assert.Equal(AlertStatus.Firing, alert.Status);
        Assert.Equal("payments-release-2026.03.04", alert.GroupKey);
        Assert.Equal("8d4f6a12-5c0e-4b97-a3e1-2f7b9c0d6e58", alert.Fingerprint);
        Assert.Equal("payments", alert.Labels["service"]);
        Assert.Equal("prod", alert.Labels["environment"]);
        Assert.Equal("payments-api", alert.Labels["subject"]);
        Assert.Equal("critical", alert.Severity);
        Assert.Equal("release 2026.03.04 failed its smoke tests in stage prod", alert.Summary);
        Assert.Equal(DateTimeOffset.Parse("2026-03-04T12:00:31Z"), alert.StartsAt);
    }

    [Fact]
    public void Binary_cloudevent_reads_its_attributes_from_the_headers_and_its_data_from_the_body()
    {
        var headers = JsonSerializer.Deserialize<Dictionary<string, string>>(Sample("cloudevent-binary.headers.json"))!;

        var alert = Assert.Single(AlertPayload.Parse(Sample("cloudevent-binary.body.json"), headers));

        Assert.Equal(AlertSource.CloudEvents, alert.Source);
        Assert.Equal(AlertStatus.Resolved, alert.Status);
        Assert.Equal("InventorySyncLag", alert.AlertName);
        Assert.Equal("c3a9e0b4-7d21-4f6e-8b5a-91d0e2f4c736", alert.GroupKey);
        Assert.Equal("inventory", alert.Labels["service"]);
        Assert.Equal("inventory-sync", alert.Labels["subject"]);
        Assert.Equal(DateTimeOffset.Parse("2026-03-04T12:44:10Z"), alert.EndsAt);
        Assert.Equal(SignalNames.HealthCheckFailed, alert.SignalName);
        Assert.Equal("CloudEvent alert InventorySyncLag resolved: sync lag back under 30 s", alert.Reason);
    }

    [Fact]
    public void Binary_cloudevent_headers_match_in_any_case_and_plain_text_data_is_the_summary()
    {
        var headers = new Dictionary<string, string>
        {
            ["CE-SpecVersion"] = "1.0", ["Ce-Id"] = "evt-1", ["CE-SOURCE"] = "/ci", ["ce-type"] = "com.example.rollout.failed", ["content-type"] = "text/plain",
        };

        var alert = Assert.Single(AlertPayload.Parse("canary of web 3.2 failed", headers));

        Assert.Equal("com.example.rollout.failed", alert.AlertName);
        Assert.Equal("canary of web 3.2 failed", alert.Summary);
        // The event type speaks of a rollout.
        Assert.Equal(SignalNames.DeploymentFailed, alert.SignalName);
    }

    [Fact]
    public void A_batch_of_cloudevents_gives_one_alert_each()
    {
        var one = JsonSerializer.Deserialize<JsonElement>(Sample("cloudevent-structured.json"));
        var batch = $"[{one.GetRawText()}, {{\"specversion\":\"1.0\",\"id\":\"2\",\"source\":\"/m\",\"type\":\"com.example.alert\",\"data\":{{\"status\":\"resolved\",\"alertname\":\"Other\"}}}}]";

        var alerts = AlertPayload.Parse(batch, new Dictionary<string, string> { ["Content-Type"] = "application/cloudevents-batch+json" });

        Assert.Equal(new[] { "PaymentsDeployFailed", "Other" }, alerts.Select(a => a.AlertName));
        Assert.Equal(new[] { AlertStatus.Firing, AlertStatus.Resolved }, alerts.Select(a => a.Status));
    }

    [Fact]
    public void Body_as_bytes_reads_like_text()
    {
        var bytes = Encoding.UTF8.GetBytes(Sample("alertmanager-firing.json"));

        Assert.Equal(2, AlertPayload.Parse(bytes).Count);
    }

    [Theory]
    [InlineData("deployment_failed", "DEPLOYMENT_FAILED")]
    [InlineData("HEALTH_CHECK_FAILED", "HEALTH_CHECK_FAILED")]
    [InlineData("user-reported-issue", "USER_REPORTED_ISSUE")]
    public void A_signal_label_names_the_signal(string label, string expected)
    {
        var body = Sample("alertmanager-resolved.json").Replace("\"service\": \"checkout\",", $"\"service\": \"checkout\", \"signal\": \"{label}\",");

        Assert.Equal(expected, Assert.Single(AlertPayload.Parse(body)).SignalName);
    }

    [Fact]
    public void A_classifying_label_that_speaks_of_a_rollout_makes_a_deployment_failure_but_an_object_name_does_not()
    {
        var classified = Sample("alertmanager-resolved.json").Replace("\"service\": \"checkout\",", "\"service\": \"checkout\", \"category\": \"rollout\",");
        var named = Sample("alertmanager-resolved.json").Replace("\"service\": \"checkout\",", "\"service\": \"checkout\", \"deployment\": \"checkout-deployment\",");

        Assert.Equal(SignalNames.DeploymentFailed, Assert.Single(AlertPayload.Parse(classified)).SignalName);
        Assert.Equal(SignalNames.HealthCheckFailed, Assert.Single(AlertPayload.Parse(named)).SignalName);
    }

    [Fact]
    public void A_signal_label_that_is_no_signal_name_is_refused()
    {
        var body = Sample("alertmanager-resolved.json").Replace("\"service\": \"checkout\",", "\"service\": \"checkout\", \"signal\": \"oops!\",");

        var e = Refused(body);

        Assert.Equal(ErrorIds.AlertPayloadInvalid, e.ErrorId);
        Assert.Contains("oops!", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \r\n ")]
    [InlineData("\uFEFF")]
    public void An_empty_body_is_refused(string body)
    {
        var e = Refused(body);

        Assert.Equal(ErrorIds.AlertPayloadInvalid, e.ErrorId);
        Assert.Contains("empty", e.Message);
    }

    [Theory]
    [InlineData("{\"schemaId\": \"azureMonitorCommonAlertSchema\", \"data\": ")]
    [InlineData("not json at all")]
    [InlineData("{'version': '4'}")]
    [InlineData("{\"version\": \"4\",}")]
    public void Invalid_json_is_refused_with_where_it_stops(string body)
    {
        var e = Refused(body);

        Assert.Equal(ErrorIds.AlertPayloadInvalid, e.ErrorId);
        Assert.Contains("not valid JSON (line 1", e.Message);
        Assert.IsAssignableFrom<JsonException>(e.InnerException);
    }

    [Fact]
    public void Huge_nesting_is_refused_not_overflowed()
    {
        var body = new string('[', 100_000) + new string(']', 100_000);

        var e = Refused(body);

        Assert.Equal(ErrorIds.AlertPayloadInvalid, e.ErrorId);
        Assert.Contains("not valid JSON (line 1, byte 65)", e.Message);
        Assert.Contains("depth of 64", e.Message);
    }

    [Fact]
    public void A_body_over_the_limit_is_refused_before_it_is_read()
    {
        var e = Assert.Throws<RollbackException>(() => AlertPayload.Parse(new byte[AlertPayload.MaxBodyBytes + 1]));

        Assert.Equal(ErrorIds.AlertPayloadInvalid, e.ErrorId);
        Assert.Contains("MiB", e.Message);
    }

    [Fact]
    public void Bytes_that_are_not_utf8_are_refused()
    {
        var e = Assert.Throws<RollbackException>(() => AlertPayload.Parse(new byte[] { (byte)'{', 0xC3, 0x28, (byte)'}' }));

        Assert.Equal(ErrorIds.AlertPayloadInvalid, e.ErrorId);
        Assert.Contains("UTF-8", e.Message);
    }

    [Theory]
    [InlineData("{\"hello\": \"world\", \"alerts\": []}", "hello, alerts")]
    [InlineData("[1, 2]", "it is an array")]
    [InlineData("\"text\"", "it is a string")]
    [InlineData("{\"version\": \"3\", \"groupKey\": \"g\", \"alerts\": []}", "version, groupKey, alerts")]
    public void Json_of_no_known_format_is_refused_naming_what_it_has(string body, string named)
    {
        var e = Refused(body);

        Assert.Equal(ErrorIds.AlertFormatUnknown, e.ErrorId);
        Assert.Contains(named, e.Message);
        Assert.Contains("azureMonitorCommonAlertSchema", e.Message);
    }

    [Fact]
    public void An_azure_payload_of_another_schema_is_refused_with_how_to_turn_on_the_common_one()
    {
        var e = Refused("{\"schemaId\": \"Microsoft.Insights/activityLogs\", \"data\": {\"status\": \"Activated\"}}");

        Assert.Equal(ErrorIds.AlertFormatUnknown, e.ErrorId);
        Assert.Contains("Enable the common alert schema", e.Message);
    }

    [Theory]
    [InlineData("{\"schemaId\": \"azureMonitorCommonAlertSchema\"}", "no data object")]
    [InlineData("{\"schemaId\": \"azureMonitorCommonAlertSchema\", \"data\": {}}", "no data.essentials")]
    [InlineData("{\"schemaId\": \"azureMonitorCommonAlertSchema\", \"data\": {\"essentials\": {\"monitorCondition\": \"Fired\"}}}", "no alertRule")]
    [InlineData("{\"schemaId\": \"azureMonitorCommonAlertSchema\", \"data\": {\"essentials\": {\"alertRule\": \"r\", \"monitorCondition\": \"Sleeping\"}}}", "'Sleeping'")]
    [InlineData("{\"version\": \"4\", \"groupKey\": \"g\", \"alerts\": [42]}", "alerts[0] is a number")]
    [InlineData("{\"version\": \"4\", \"groupKey\": \"g\", \"alerts\": [{\"labels\": {}}]}", "has no status")]
    [InlineData("{\"version\": \"4\", \"groupKey\": \"g\", \"alerts\": [{\"status\": \"firing\", \"labels\": [\"a\"]}]}", "labels is an array")]
    [InlineData("{\"specversion\": \"1.0\", \"id\": \"1\", \"source\": \"/s\"}", "no type attribute")]
    [InlineData("{\"specversion\": \"0.3\", \"id\": \"1\", \"source\": \"/s\", \"type\": \"t\"}", "specversion '0.3'")]
    [InlineData("{\"specversion\": \"1.0\", \"id\": \"1\", \"source\": \"/s\", \"type\": \"t\", \"data_base64\": \"***\"}", "not Base64")]
    [InlineData("{\"specversion\": \"1.0\", \"id\": \"1\", \"source\": \"/s\", \"type\": \"t\", \"data\": {\"status\": \"sleeping\"}}", "'sleeping'")]
    public void A_payload_of_a_known_format_that_misses_what_it_needs_is_refused_saying_what(string body, string said)
    {
        var e = Refused(body);

        Assert.Equal(ErrorIds.AlertPayloadInvalid, e.ErrorId);
        Assert.Contains(said, e.Message);
    }

    [Fact]
    public void A_binary_cloudevent_without_its_required_headers_is_refused()
    {
        var e = Refused("{}", new Dictionary<string, string> { ["ce-specversion"] = "1.0", ["ce-type"] = "t" });

        Assert.Equal(ErrorIds.AlertPayloadInvalid, e.ErrorId);
        Assert.Contains("ce-id", e.Message);
    }

    [Fact]
    public void An_alertmanager_group_without_alerts_gives_none()
    {
        Assert.Empty(AlertPayload.Parse("{\"version\": \"4\", \"groupKey\": \"g\", \"status\": \"firing\", \"alerts\": []}"));
    }
}
