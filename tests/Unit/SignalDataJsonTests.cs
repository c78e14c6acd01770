using System.Collections;
using System.Text;
using System.Text.Json;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>A signal's data is written as the serializer wrote it through the journal's options, whatever the values.</summary>
public class SignalDataJsonTests
{
    [Fact]
    public void Every_kind_of_value_is_written_as_the_serializer_writes_it()
    {
        var data = new Dictionary<string, object?>
        {
            ["reason"] = "health check failed: \"500\" <b> & 'ü' 🚀 \u0001",
            ["rolled_back_to"] = null,
            ["act"] = false,
            ["count"] = 3,
            ["big"] = 9_007_199_254_740_993L,
            ["ratio"] = 0.1 + 0.2,
            ["huge"] = 1e21,
            ["money"] = 12.50m,
            ["at"] = new DateTimeOffset(2026, 12, 5, 1, 2, 3, TimeSpan.FromHours(-5)).AddTicks(1234),
            ["local"] = new DateTime(2026, 12, 5, 1, 2, 3, DateTimeKind.Utc),
            ["duration"] = TimeSpan.FromMilliseconds(-1234.5),
            ["outcome"] = RollbackOutcome.Escalated,
            ["unnamed"] = (RollbackOutcome)99,
            ["list"] = new List<string> { "a", "b" },
            ["mixed"] = new List<object?> { 1, "two", null, new Dictionary<string, object?> { ["three"] = 3.5 } },
            ["numbers"] = new[] { 1, 2, 3 },
            ["table"] = new Hashtable { ["k"] = "v" },
            ["nested"] = new Dictionary<string, object?> { ["deeper"] = new Dictionary<string, object?> { ["x"] = true } },
            ["uri"] = new Uri("https://example.invalid/a?b=c"),
            ["short"] = (short)7,
            ["float"] = 1.25f,
        };

        Assert.Equal(JsonSerializer.Serialize(data, Journal.JsonOptions), Encoding.UTF8.GetString(SignalDataJson.ToUtf8(data)));
    }

    [Fact]
    public void A_value_the_serializer_refuses_is_refused_the_same_way()
    {
        var data = new Dictionary<string, object?> { ["ratio"] = double.NaN };

        var expected = Assert.ThrowsAny<Exception>(() => JsonSerializer.Serialize(data, Journal.JsonOptions));
        Assert.IsType(expected.GetType(), Assert.ThrowsAny<Exception>(() => SignalDataJson.ToUtf8(data)));
    }
}
