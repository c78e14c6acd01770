using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

public class CheckpointManifestTests
{
    [Fact]
    public async Task A_listed_checkpoint_carries_its_target_record_without_secrets()
    {
        using var temp = new TempDirectory();
        var store = new CheckpointStore(StateRoot.Open(temp.Combine("state")));
        var target = new DatabaseTarget { Tool = "Django", App = "orders", Path = temp.Path, ToolEnvironment = new Dictionary<string, string> { ["DJANGO_DB_PASSWORD"] = "pw-s3cret" } };

        await store.CreateAsync("pre-rollback-1", target.Strategy, "db:django:x#orders", temp.Path, _ => Task.FromResult(new VersionIdentity("0002_add_note", null)), target);
        var listed = Assert.Single(store.List());

        var deployment = Assert.IsType<DatabaseTarget>(listed.Deployment);
        Assert.Equal("orders", deployment.App);
        Assert.Equal("Django", deployment.Tool);
        Assert.DoesNotContain("pw-s3cret", File.ReadAllText(Path.Combine(listed.Folder, "manifest.json")));
    }
}
