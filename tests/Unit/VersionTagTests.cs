using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

public class VersionTagTests
{
    [Theory]
    [InlineData("v2.10.0", "v2.9.0")]
    [InlineData("v2.3.0", "v2.3.0-rc.1")]
    [InlineData("v2.3.0-rc.2", "v2.3.0-rc.1")]
    [InlineData("v2.3.0-rc.10", "v2.3.0-rc.9")]
    [InlineData("release-3.0", "release-2.99.1")]
    [InlineData("2.3.1", "v2.3")]
    public void Orders_by_version_not_by_text(string higher, string lower)
    {
        Assert.True(VersionTag.TryParse(higher)!.CompareTo(VersionTag.TryParse(lower)) > 0);
    }

    [Theory]
    [InlineData("nightly")]
    [InlineData("v2.x")]
    [InlineData("")]
    public void Names_without_a_version_are_not_versions(string name) => Assert.Null(VersionTag.TryParse(name));
}
