using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>
/// The journal's compile-time JSON metadata writes and reads every record as the reflection-based serializer did, so
/// journals written before and after it read the same.
/// </summary>
public class JournalJsonTests
{
    // The journal's options without the compile-time metadata: what earlier versions wrote with.
    private static readonly JsonSerializerOptions ByReflection = new()
    {
        WriteIndented = false,
        Converters = { new JsonStringEnumConverter(), new DeploymentTargetConverter() },
        TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
    };

    // As an attempt was written before its converter (with two steps, no health report).
    private const string Written = """{"AttemptId":"36a21605520f","Strategy":"Git","TargetKey":"git:/tmp/hist/repo","Path":"/tmp/hist/repo","StateDirectory":"/tmp/hist/state","Outcome":"Succeeded","FromVersion":"v1.1.0","ToVersion":"v1.0.0","Reason":null,"Initiator":null,"Message":"Rolled back from v1.1.0 to v1.0.0; not verified (no -HealthCheckUri or -SmokeTest given).","FailureType":"Unknown","AttemptNumber":1,"StartedAt":"2026-12-05T00:57:59.4553422+00:00","CompletedAt":"2026-12-05T00:57:59.5998685+00:00","Duration":"00:00:00.1445263","TimeToRecovery":null,"FailureDetectedAt":null,"CheckpointName":"pre-rollback-1796432279","Steps":[{"Name":"Checkpoint","Status":"Succeeded","StartedAt":"2026-12-05T00:57:59.5613282+00:00","Duration":"00:00:00.0244625","Message":"Checkpoint \u0027pre-rollback-1796432279\u0027 at /tmp/hist/state/checkpoints/pre-rollback-1796432279","Output":null,"ErrorId":null,"Escalate":false},{"Name":"Checkout /tmp/hist/repo","Status":"Succeeded","StartedAt":"2026-12-05T00:57:59.5874501+00:00","Duration":"00:00:00.0091269","Message":"HEAD is now at v1.0.0 (196b35b733).","Output":null,"ErrorId":null,"Escalate":false}],"Verification":"NotRun","Health":null,"Signals":["ROLLBACK_STARTED","ROLLBACK_COMPLETE"],"Changes":["f929b5d b"],"Deployment":{"Path":"/tmp/hist/repo","Mode":"Checkout","Commits":[],"Push":false,"UserName":null,"Strategy":"Git","IsSelection":false},"Components":[]}""";

    [Fact]
    public void An_attempt_written_before_reads_back_and_is_written_the_same()
    {
        var read = JsonSerializer.Deserialize<RollbackResult>(Written, Journal.JsonOptions)!;

        Assert.Equal(RollbackOutcome.Succeeded, read.Outcome);
        Assert.Equal(TimeSpan.FromTicks(1445263), read.Duration);
        Assert.Equal(2, read.Steps.Count);
        Assert.Equal("Checkpoint 'pre-rollback-1796432279' at /tmp/hist/state/checkpoints/pre-rollback-1796432279", read.Steps[0].Message);
        Assert.Equal("/tmp/hist/repo", Assert.IsType<GitTarget>(read.Deployment).Path);
        Assert.Equal(Written, JsonSerializer.Serialize(read, Journal.JsonOptions));
    }

    [Theory]
    [MemberData(nameof(TargetTypes))]
    public void A_full_attempt_is_written_as_the_serializer_wrote_it_and_reads_back_whole(Type targetType)
    {
        var attempt = (RollbackResult)Filled(typeof(RollbackResult));
        attempt.Deployment = (DeploymentTarget)Filled(targetType);
        attempt.Steps = [(StepResult)Filled(typeof(StepResult)), new StepResult { Name = "second", Duration = TimeSpan.FromDays(-1.5) }];
        var health = (HealthReport)Filled(typeof(HealthReport));
        health.Checks = [(HealthCheckResult)Filled(typeof(HealthCheckResult)), new HealthCheckResult()];
        health.SmokeTests = [(SmokeTestResult)Filled(typeof(SmokeTestResult))];
        attempt.Health = health;
        attempt.Components = [(ComponentOutcome)Filled(typeof(ComponentOutcome)), new ComponentOutcome { Name = "unset" }];

        var written = JsonSerializer.Serialize(attempt, Journal.JsonOptions);

        Assert.Equal(JsonSerializer.Serialize(attempt, ByReflection), written);
        Assert.Equal(written, JsonSerializer.Serialize(JsonSerializer.Deserialize<RollbackResult>(written, Journal.JsonOptions), ByReflection));
    }

    [Fact]
    public void An_empty_attempt_and_one_with_a_value_of_no_name_are_written_as_the_serializer_wrote_them()
    {
        foreach (var attempt in new[] { new RollbackResult(), new RollbackResult { Outcome = (RollbackOutcome)42, Health = new HealthReport() } })
        {
            var written = JsonSerializer.Serialize(attempt, Journal.JsonOptions);

            Assert.Equal(JsonSerializer.Serialize(attempt, ByReflection), written);
            Assert.Equal(written, JsonSerializer.Serialize(JsonSerializer.Deserialize<RollbackResult>(written, Journal.JsonOptions), Journal.JsonOptions));
        }
    }

    [Theory]
    [InlineData("""{"AttemptNumber":"one"}""")]
    [InlineData("""{"Outcome":"NoSuchOutcome"}""")]
    [InlineData("""{"StartedAt":"yesterday"}""")]
    [InlineData("""{"Duration":12}""")]
    [InlineData("""{"Steps":[{"Escalate":"yes"}]}""")]
    [InlineData("""{"Health":{"Checks":[{"StatusCode":"500"}]}}""")]
    [InlineData("""{"Steps":{}}""")]
    [InlineData("""[]""")]
    public void A_value_of_the_wrong_kind_is_a_JsonException_as_with_the_serializer(string json)
    {
        Assert.ThrowsAny<JsonException>(() => JsonSerializer.Deserialize<RollbackResult>(json, ByReflection));
        Assert.ThrowsAny<JsonException>(() => JsonSerializer.Deserialize<RollbackResult>(json, Journal.JsonOptions));
    }

    [Fact]
    public void Unknown_properties_are_ignored_and_missing_ones_keep_their_defaults()
    {
        var read = JsonSerializer.Deserialize<RollbackResult>("""{"AttemptId":"a","SomethingNewer":{"x":[1,2]},"Outcome":"failed"}""", Journal.JsonOptions)!;

        Assert.Equal("a", read.AttemptId);
        Assert.Equal(RollbackOutcome.Failed, read.Outcome);
        Assert.Empty(read.Steps);
        Assert.Equal("", read.Strategy);
        Assert.Null(read.Deployment);
    }

    public static IEnumerable<object[]> TargetTypes() => StrategyRegistry.TargetTypes.Select(t => new object[] { t });

    [Theory]
    [MemberData(nameof(TargetTypes))]
    public void Every_strategy_target_is_written_and_read_as_by_reflection(Type targetType)
    {
        var target = (DeploymentTarget)Filled(targetType);
        var attempt = new RollbackResult { AttemptId = "a1", Strategy = target.Strategy, Deployment = target };

        var written = JsonSerializer.Serialize(attempt, Journal.JsonOptions);

        Assert.Equal(JsonSerializer.Serialize(attempt, ByReflection), written);
        var read = JsonSerializer.Deserialize<RollbackResult>(written, Journal.JsonOptions)!;
        Assert.IsType(targetType, read.Deployment);
        Assert.Equal(JsonSerializer.Serialize(JsonSerializer.Deserialize<RollbackResult>(written, ByReflection), ByReflection), JsonSerializer.Serialize(read, ByReflection));
        Assert.NotNull(Journal.JsonOptions.TypeInfoResolver!.GetTypeInfo(targetType, Journal.JsonOptions));
        Assert.True(TargetJson.Default.GetTypeInfo(targetType) is not null, $"{targetType.Name} has no compile-time metadata");
    }

    /// <summary>An instance with every settable property given a value that is not its default.</summary>
    private static object Filled(Type type)
    {
        var value = Activator.CreateInstance(type)!;
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            if (Sample(property.PropertyType, property.Name) is { } sample)
            {
                property.SetValue(value, sample);
            }
        }

        return value;
    }

    private static object? Sample(Type type, string name)
    {
        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        return underlying switch
        {
            _ when underlying == typeof(string) => $"{name}-value \"quoted\" ü",
            _ when underlying == typeof(bool) => true,
            _ when underlying == typeof(int) => 3 + name.Length,
            _ when underlying == typeof(TimeSpan) => TimeSpan.FromSeconds(42.5),
            _ when underlying == typeof(Uri) => new Uri("https://flags.example.invalid/api"),
            _ when underlying == typeof(DateTimeOffset) => new DateTimeOffset(2026, 12, 5, 1, 2, 3, TimeSpan.FromHours(2)).AddTicks(4567),
            _ when underlying == typeof(List<string>) => new List<string> { "one", "<two> & 'three'" },
            _ when underlying.IsEnum => Enum.GetValues(underlying).Cast<object>().Last(),
            _ when typeof(IReadOnlyDictionary<string, string>).IsAssignableFrom(underlying) || underlying == typeof(IReadOnlyDictionary<string, string>) =>
                new Dictionary<string, string> { ["X-Key"] = "v" },
            _ when underlying == typeof(IReadOnlyList<string>) => new[] { "one", "two" },
            _ => null,
        };
    }
}
