using DeploymentRollback.Engine.Retry;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>Which deployment failures a quick retry may fix: read from the failure's text alone.</summary>
public class TransientFailureTests
{
    [Theory]
    [InlineData("connect ECONNREFUSED 10.0.0.1:5432", true)]
    [InlineData("Health check http://x/health: status 503 Service Unavailable, expected 2xx", false)]
    [InlineData("upstream request timeout", true)]
    [InlineData("Missing environment variable: API_KEY", false)]
    public void Recognises_transient_failures(string error, bool transient) => Assert.Equal(transient, QuickRetry.LooksTransient(new[] { error }));
}
