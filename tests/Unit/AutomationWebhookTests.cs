using System.Text.Json;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>An Azure Automation runbook's $WebhookData in its text forms: JSON, and the PowerShell 7 runtime's unquoted form.</summary>
public class AutomationWebhookTests
{
    private static string Sample(string name) => AlertPayloadTests.Sample(name);

    [Fact]
    public void Json_webhookdata_gives_the_body_and_the_headers()
    {
        Assert.True(AutomationWebhook.TryRead(Sample("azure-webhookdata.json"), out var request));

        Assert.Equal("rollback-alerts", request.WebhookName);
        Assert.Equal("IcMBroadcaster/1.0", request.Headers["user-agent"]);
        Assert.Equal("application/json; charset=utf-8", request.Headers["Content-Type"]);
        var alert = Assert.Single(AlertPayload.Parse(request.Body, request.Headers));
        Assert.Equal("checkout-http-5xx", alert.AlertName);
        Assert.Equal(AlertStatus.Firing, alert.Status);
    }

    [Fact]
    public void PowerShell_7_unquoted_webhookdata_gives_the_same_body_and_headers()
    {
        Assert.True(AutomationWebhook.TryRead(Sample("azure-webhookdata-ps7.txt"), out var request));

        Assert.Equal("rollback-alerts", request.WebhookName);
        Assert.Equal("3e9c52b7-0d4a-4f1e-9b86-6a1c0f2d7e44.webhook.weu.azure-automation.net", request.Headers["Host"]);
        Assert.Equal("IcMBroadcaster/1.0", request.Headers["User-Agent"]);
        Assert.Equal("application/json; charset=utf-8", request.Headers["Content-Type"]);
        Assert.Equal("RkkKACgAAAACAAAAEADbm1cQbXJ5Qp2oSD3mOVYeAQAQAJVDvAKUAAAAAAAAAAAAAAA=", request.Headers["X-CorrelationContext"]);
        Assert.True(AutomationWebhook.TryRead(Sample("azure-webhookdata.json"), out var proper));
        Assert.Equal(proper.Body, request.Body);
        Assert.Equal(proper.Headers.OrderBy(h => h.Key), request.Headers.OrderBy(h => h.Key));
        var alert = Assert.Single(AlertPayload.Parse(request.Body, request.Headers));
        Assert.Equal("checkout", alert.Labels["service"]);
    }

    [Fact]
    public void Unquoted_webhookdata_keeps_an_indented_body_and_braces_inside_its_strings()
    {
        var body = Sample("alertmanager-firing.json").Replace("error ratio 0.41 > 0.2", "error ratio {0.41} > 0.2 \\\"}\\\" ]");
        var text = "{WebhookName:am,RequestBody:" + body + ",RequestHeader:{Accept:text/html, application/json,Host:h.example:443}}";

        Assert.True(AutomationWebhook.TryRead(text, out var request));

        Assert.Equal(body.TrimEnd(), request.Body);
        Assert.Equal("text/html, application/json", request.Headers["Accept"]);
        Assert.Equal("h.example:443", request.Headers["Host"]);
        Assert.Equal("error ratio {0.41} > 0.2 \"}\" ]", AlertPayload.Parse(request.Body)[0].Summary);
    }

    [Fact]
    public void Unquoted_webhookdata_with_a_quoted_or_plain_body_is_read_too()
    {
        Assert.True(AutomationWebhook.TryRead("{WebhookName:w,RequestBody:\"{\\\"a\\\":1}\",RequestHeader:{Host:h}}", out var quoted));
        Assert.Equal("{\"a\":1}", quoted.Body);

        Assert.True(AutomationWebhook.TryRead("{WebhookName:w,RequestBody:hello there,RequestHeader:{Host:h}}", out var plain));
        Assert.Equal("hello there", plain.Body);
        Assert.Equal("h", plain.Headers["Host"]);
    }

    [Fact]
    public void An_alert_payload_is_not_taken_for_webhookdata()
    {
        Assert.False(AutomationWebhook.TryRead(Sample("alertmanager-firing.json"), out _));
        Assert.False(AutomationWebhook.TryRead("plain text", out _));
        Assert.False(AutomationWebhook.TryRead("{not json and no body key}", out _));
    }

    [Fact]
    public void Webhookdata_whose_body_is_cut_off_is_refused()
    {
        var text = Sample("azure-webhookdata-ps7.txt");

        var e = Assert.Throws<RollbackException>(() => AutomationWebhook.TryRead(text[..(text.Length / 2)], out _));

        Assert.Equal(ErrorIds.AlertPayloadInvalid, e.ErrorId);
        Assert.Contains("cut off", e.Message);
    }

    [Fact]
    public void Webhookdata_nested_too_deep_is_refused_not_overflowed()
    {
        var e = Assert.Throws<RollbackException>(() => AutomationWebhook.TryRead("{WebhookName:w,RequestBody:" + new string('{', 100_000), out _));

        Assert.Equal(ErrorIds.AlertPayloadInvalid, e.ErrorId);
        Assert.Contains("deeper than 64", e.Message);
    }

    [Fact]
    public void Read_refuses_text_without_a_request_body()
    {
        var e = Assert.Throws<RollbackException>(() => AutomationWebhook.Read("{\"WebhookName\": \"w\"}"));

        Assert.Equal(ErrorIds.AlertPayloadInvalid, e.ErrorId);
        Assert.Contains("RequestBody", e.Message);
    }

    [Fact]
    public void Json_webhookdata_whose_body_is_an_object_gives_its_json()
    {
        var text = JsonSerializer.Serialize(new { WebhookName = "w", RequestBody = new { version = "4", groupKey = "g", status = "firing", alerts = Array.Empty<object>() } });

        Assert.True(AutomationWebhook.TryRead(text, out var request));

        Assert.Empty(AlertPayload.Parse(request.Body));
    }
}
