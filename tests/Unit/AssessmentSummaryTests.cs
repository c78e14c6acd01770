using System.Text.Json;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>The journal's record of an assessment keeps the layout earlier versions wrote and read.</summary>
public class AssessmentSummaryTests
{
    // As the record was written when its failure type was an enum property under the journal's JsonStringEnumConverter.
    private const string Written = """{"FailureType":"HealthCheckFailed","FailureReason":"Health check http://x/health: 500","CurrentVersion":"v2.4.0","LastGoodVersion":"v2.3.0","Errors":["Health check http://x/health: 500","boom"]}""";

    [Fact]
    public void Is_written_as_before()
    {
        var summary = AssessmentSummary.Of(FailureType.HealthCheckFailed, "Health check http://x/health: 500", "v2.4.0", "v2.3.0", new[] { "Health check http://x/health: 500", "boom" });

        Assert.Equal(Written, summary.ToJson());
    }

    [Fact]
    public void Is_written_as_the_serializer_writes_it_nulls_quotes_and_unicode_included()
    {
        foreach (var summary in new[]
        {
            AssessmentSummary.Of(FailureType.Unknown, null, null, null, Array.Empty<string>()),
            AssessmentSummary.Of(FailureType.SmokeTestFailed, "\"quoted\" <b>&amp;</b> 'x' + tab\t line\n", "v2.4.0-ü", "release/ß-1",
                new[] { "Ünïcödé ✓ 日本", "back\\slash", "\u0001 control", "emoji 🚀" }),
        })
        {
            Assert.Equal(JsonSerializer.Serialize(summary, Journal.JsonOptions), summary.ToJson());
            Assert.Equal(summary.Errors, AssessmentSummary.FromJson(summary.ToJson()).Errors);
            Assert.Equal(summary.FailureReason, AssessmentSummary.FromJson(summary.ToJson()).FailureReason);
        }
    }

    [Fact]
    public void Reads_what_earlier_versions_wrote()
    {
        var read = AssessmentSummary.FromJson(Written);

        Assert.Equal(FailureType.HealthCheckFailed, read.ParseFailureType());
        Assert.Equal("Health check http://x/health: 500", read.FailureReason);
        Assert.Equal("v2.4.0", read.CurrentVersion);
        Assert.Equal("v2.3.0", read.LastGoodVersion);
        Assert.Equal(new[] { "Health check http://x/health: 500", "boom" }, read.Errors);
    }

    [Fact]
    public void Nulls_missing_fields_and_unknown_failure_types_read_as_unknown()
    {
        var read = AssessmentSummary.FromJson("""{"FailureType":"SomethingNewer","FailureReason":null,"Errors":[]}""");

        Assert.Equal(FailureType.Unknown, read.ParseFailureType());
        Assert.Null(read.FailureReason);
        Assert.Null(read.CurrentVersion);
        Assert.Empty(read.Errors);
        Assert.Equal(FailureType.Unknown, AssessmentSummary.FromJson("{}").ParseFailureType());
    }

    [Theory]
    [InlineData("{\"FailureType\":")]
    [InlineData("[1, 2]")]
    [InlineData("not json")]
    public void Invalid_records_throw_JsonException_as_the_serializer_did(string json)
    {
        Assert.ThrowsAny<JsonException>(() => AssessmentSummary.FromJson(json));
    }
}
