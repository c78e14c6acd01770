using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>Which target an alert is about, and the signal it becomes.</summary>
public class AlertSignalTests
{
    private static IReadOnlyList<InboundAlert> Alerts(string sample) => AlertPayload.Parse(AlertPayloadTests.Sample(sample));

    private static AlertTargetMap Map(string? targetKey = null, params (string Selector, string Target)[] selectors) =>
        new(targetKey, selectors.Select(s => new KeyValuePair<string, string>(s.Selector, s.Target)));

    [Fact]
    public void Without_a_map_the_service_label_names_the_plan_and_an_alert_without_one_is_not_mapped()
    {
        var alerts = Alerts("alertmanager-firing.json");
        var map = Map();

        Assert.Equal("plan:checkout", map.Resolve(alerts[0]));
        Assert.Null(map.Resolve(alerts[1]));
        var e = map.NotMapped(alerts[1]);
        Assert.Equal(ErrorIds.AlertTargetNotMapped, e.ErrorId);
        Assert.Contains("KubeDeploymentRolloutStuck", e.Message);
        Assert.Contains("deployment=web", e.Message);
        Assert.Contains("namespace=shop", e.Message);
        Assert.Contains("-TargetKey", e.Message);
        Assert.Contains("-Map", e.Message);
    }

    [Fact]
    public void A_rollback_target_label_wins_over_the_service_label()
    {
        var body = AlertPayloadTests.Sample("alertmanager-resolved.json").Replace("\"service\": \"checkout\",", "\"service\": \"checkout\", \"rollback_target\": \"git:/srv/checkout\",");

        Assert.Equal("git:/srv/checkout", Map().Resolve(Assert.Single(AlertPayload.Parse(body))));
    }

    [Fact]
    public void A_target_key_takes_every_alert()
    {
        var map = Map("git:/srv/app");

        Assert.All(Alerts("alertmanager-firing.json"), alert => Assert.Equal("git:/srv/app", map.Resolve(alert)));
    }

    [Fact]
    public void Map_selectors_are_tried_most_specific_first_whatever_their_order()
    {
        var alerts = Alerts("alertmanager-firing.json");
        var selectors = new[] { ("namespace=shop", "plan:shop"), ("namespace=shop, deployment=web", "plan:web"), ("SERVICE=checkout", "checkout") };

        foreach (var order in new[] { selectors, selectors.Reverse().ToArray() })
        {
            var map = Map(null, order);
            Assert.Equal("plan:checkout", map.Resolve(alerts[0]));
            Assert.Equal("plan:web", map.Resolve(alerts[1]));
        }
    }

    [Fact]
    public void With_a_map_unmatched_alerts_go_to_the_target_key_or_are_not_mapped()
    {
        var alerts = Alerts("alertmanager-firing.json");

        Assert.Equal("git:/srv/rest", Map("git:/srv/rest", ("namespace=shop", "plan:shop")).Resolve(alerts[0]));
        // A map replaces the service label: the alert names no target the map knows.
        Assert.Null(Map(null, ("namespace=shop", "plan:shop")).Resolve(alerts[0]));
        Assert.Contains("No -Map selector matched", Map(null, ("namespace=shop", "plan:shop")).NotMapped(alerts[0]).Message);
    }

    [Fact]
    public void Map_values_match_exactly_and_azure_custom_properties_map_like_labels()
    {
        var azure = Assert.Single(Alerts("azure-metric-fired.json"));

        Assert.Null(Map(null, ("service=Checkout", "plan:x")).Resolve(azure));
        Assert.Equal("plan:web", Map(null, ("resource_group=shop-prod,resource=checkout-web", "plan:web")).Resolve(azure));
    }

    [Theory]
    [InlineData("service")]
    [InlineData("=checkout")]
    [InlineData("service=")]
    [InlineData("service=checkout,")]
    public void A_selector_that_is_not_label_value_pairs_is_refused(string selector)
    {
        var e = Assert.Throws<RollbackException>(() => Map(null, (selector, "plan:x")));

        Assert.Equal(ErrorIds.AlertMapInvalid, e.ErrorId);
        Assert.Contains(selector, e.Message);
    }

    [Fact]
    public void A_target_with_a_line_break_is_refused()
    {
        var e = Assert.Throws<RollbackException>(() => Map("git:/srv\napp"));

        Assert.Equal(ErrorIds.AlertMapInvalid, e.ErrorId);
    }

    [Fact]
    public void A_firing_alert_becomes_a_signal_to_act_on_with_what_the_alert_said()
    {
        var alert = Alerts("alertmanager-firing.json")[0];

        var signal = AlertSignals.ToSignal(alert, "plan:checkout", stateDirectory: "/state");

        Assert.Equal(SignalNames.HealthCheckFailed, signal.Name);
        Assert.Equal(SignalStore.TypePrefix + SignalNames.HealthCheckFailed, signal.Type);
        Assert.Equal("plan:checkout", signal.Subject);
        Assert.Equal("urn:deployment-rollback:alert:alertmanager", signal.Source);
        Assert.Equal(alert.StartsAt, signal.Time);
        Assert.Equal("", signal.FilePath);
        Assert.Equal("/state", signal.StateDirectory);
        Assert.Equal(32, signal.Id.Length);
        var data = signal.Data;
        Assert.Equal(true, data["act"]);
        Assert.Equal("firing", data["status"]);
        Assert.Equal("CheckoutHighErrorRate", data["alert_name"]);
        Assert.Equal("Alertmanager", data["source_format"]);
        Assert.Equal("{}/{env=\"prod\"}:{env=\"prod\"}", data["group_key"]);
        Assert.Equal("4f9a0c2d81e6b357", data["fingerprint"]);
        Assert.Equal("error ratio 0.41 > 0.2", data["summary"]);
        Assert.Equal("critical", data["severity"]);
        Assert.Equal("2026-03-04T09:14:05.318Z", data["starts_at"]);
        Assert.Equal("Alertmanager alert CheckoutHighErrorRate firing: error ratio 0.41 > 0.2", data["reason"]);
        Assert.Equal("health_check_failed", data["failure_type"]);
        var labels = Assert.IsAssignableFrom<IReadOnlyDictionary<string, object?>>(data["labels"]);
        Assert.Equal("checkout", labels["service"]);
        Assert.Equal("eu-west", labels["cluster"]);
        Assert.False(data.ContainsKey("ends_at"));
        Assert.True(SignalStore.IsActedOn(data));
    }

    [Fact]
    public void A_resolved_alert_becomes_a_signal_recorded_not_acted_on()
    {
        var alert = Assert.Single(Alerts("alertmanager-resolved.json"));

        var signal = AlertSignals.ToSignal(alert, "plan:checkout");

        Assert.Equal(false, signal.Data["act"]);
        Assert.Equal("resolved", signal.Data["status"]);
        Assert.Equal("2026-03-04T09:29:50.771Z", signal.Data["ends_at"]);
        Assert.Equal(alert.EndsAt, signal.Time);
        Assert.False(SignalStore.IsActedOn(signal.Data));
    }

    [Fact]
    public void A_signal_name_given_replaces_the_alerts_own_and_a_bad_one_is_refused()
    {
        var alert = Alerts("alertmanager-firing.json")[0];

        Assert.Equal("USER_REPORTED_ISSUE", AlertSignals.ToSignal(alert, "plan:checkout", "USER_REPORTED_ISSUE").Name);
        Assert.Equal(ErrorIds.SignalNameInvalid, Assert.Throws<RollbackException>(() => AlertSignals.ToSignal(alert, "plan:checkout", "lower")).ErrorId);
    }

    [Fact]
    public void Secrets_in_labels_annotations_and_summaries_are_redacted()
    {
        var body = AlertPayloadTests.Sample("alertmanager-resolved.json")
            .Replace("\"service\": \"checkout\",", "\"service\": \"checkout\", \"api_token\": \"tok-in-label-123\",")
            .Replace("error ratio 0.41 > 0.2", "probe https://probe:pr0be-pass@checkout.example/health failed, password=hunter2-in-summary");

        var signal = AlertSignals.ToSignal(Assert.Single(AlertPayload.Parse(body)), "plan:checkout");

        var text = System.Text.Json.JsonSerializer.Serialize(signal.Data);
        Assert.DoesNotContain("tok-in-label-123", text);
        Assert.DoesNotContain("pr0be-pass", text);
        Assert.DoesNotContain("hunter2-in-summary", text);
        Assert.Contains(SecretRedactor.Mask, text);
        Assert.Equal("checkout", ((IReadOnlyDictionary<string, object?>)signal.Data["labels"]!)["service"]);
    }

    [Fact]
    public void Act_false_as_read_back_from_a_file_is_not_acted_on()
    {
        Assert.True(SignalStore.IsActedOn(new Dictionary<string, object?>()));
        Assert.True(SignalStore.IsActedOn(new Dictionary<string, object?> { ["act"] = true }));
        Assert.False(SignalStore.IsActedOn(new Dictionary<string, object?> { ["act"] = false }));
        Assert.False(SignalStore.IsActedOn(new Dictionary<string, object?> { ["act"] = "False" }));
    }
}
