using DeploymentRollback.Engine;
using Xunit;
using DeploymentRollback.Tests.Integration.Database;
using DeploymentRollback.Tests.Integration.Docker;
using DeploymentRollback.Tests.Integration.Core;
using DeploymentRollback.Tests.Integration.FeatureFlag;
using DeploymentRollback.Tests.Integration.Kubernetes;

namespace DeploymentRollback.Tests.Integration;

/// <summary>The real components integration tests run against.</summary>
public enum Component
{
    Docker,
    Kubectl,
    Postgres,
    /// <summary>psycopg2 for the python that runs alembic (Django and Alembic on PostgreSQL).</summary>
    Psycopg2,
    Django,
    Alembic,
    EfCore,
    Rails,
    RailsPostgres,
    Unleash,
    Mount,
    /// <summary>Azurite, the Azure Storage emulator, from npm.</summary>
    Azurite,
}

/// <summary>
/// A test that needs real components: skipped with the first missing one's reason, except in CI
/// (DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION=1), where it runs and an absent component fails it.
/// </summary>
public sealed class RequiresFactAttribute : FactAttribute
{
    public RequiresFactAttribute(params Component[] components)
    {
        if (Environment.GetEnvironmentVariable("DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION") != "1")
        {
            Skip = components.Select(Components.Missing).FirstOrDefault(reason => reason is not null);
        }
    }
}

/// <summary>A theory that needs real components, skipped or run as <see cref="RequiresFactAttribute"/> is (every row alike).</summary>
public sealed class RequiresTheoryAttribute : TheoryAttribute
{
    public RequiresTheoryAttribute(params Component[] components)
    {
        if (Environment.GetEnvironmentVariable("DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION") != "1")
        {
            Skip = components.Select(Components.Missing).FirstOrDefault(reason => reason is not null);
        }
    }
}

/// <summary>Why a component cannot be used here, or null when it can; each probe runs once per test run.</summary>
public static class Components
{
    private static readonly Lazy<string?> RubyPg = new(() =>
    {
        try
        {
            var run = ProcessRunner.RunAsync(new ProcessRequest("/usr/bin/ruby", new[] { "-e", "require 'pg'" }), default).GetAwaiter().GetResult();
            return run.ExitCode == 0 ? null : "Debian's ruby cannot load the pg gem (apt-get install -y --no-install-recommends ruby-pg): " + run.CombinedOutput.Trim();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return "/usr/bin/ruby cannot be started: " + e.Message;
        }
    });

    private static readonly Lazy<string?> Psycopg2 = new(() =>
    {
        var alembic = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(d => Path.Combine(d, "alembic")).FirstOrDefault(File.Exists);
        var shebang = alembic is null ? "" : File.ReadLines(alembic).FirstOrDefault() ?? "";
        var python = shebang.StartsWith("#!", StringComparison.Ordinal) ? shebang[2..].Trim().Split(' ')[0] : "/usr/bin/python3";
        if (!File.Exists(python))
        {
            return $"{python} does not exist";
        }

        var run = ProcessRunner.RunAsync(new ProcessRequest(python, new[] { "-c", "import psycopg2" }), default).GetAwaiter().GetResult();
        return run.ExitCode == 0 ? null : $"psycopg2 is not importable by {python} (apt-get install python3-psycopg2)";
    });

    public static string? Missing(Component component) => component switch
    {
        Component.Docker => DockerHost.Available ? null : "No Docker engine: run the tests through build.ps1 Test as root with docker.io installed (" + DockerHost.Reason + ")",
        Component.Kubectl => File.Exists(FakeCluster.Kubectl) ? null : $"No kubectl at {FakeCluster.Kubectl}: install kubectl (1.32) to prove the fake API server against it",
        Component.Postgres => !PostgresCluster.Available ? "No throwaway PostgreSQL cluster can be started: " + PostgresCluster.Reason : Psql.Missing,
        Component.Psycopg2 => Psycopg2.Value,
        Component.Django => DjangoProject.Available ? null : "Django is not installed (apt-get install python3-django).",
        Component.Alembic => AlembicProject.Available ? null : "Alembic is not installed (apt-get install alembic python3-alembic): " + AlembicProject.Reason,
        Component.EfCore => EfCoreProject.Available ? null : "dotnet-ef cannot be restored ('dotnet tool restore' in tests/Fixtures/efcore-app): " + EfCoreProject.Reason,
        Component.Rails => File.Exists("/usr/bin/rails") ? null : "Rails is not installed (apt-get install -y --no-install-recommends ruby-rails ruby-sqlite3).",
        Component.RailsPostgres => Missing(Component.Rails) ?? RubyPg.Value,
        Component.Unleash => UnleashServer.Url is not null ? null : "No Unleash server: run the tests through build.ps1 Test with node, npm and PostgreSQL installed.",
        Component.Mount => TestMount.Unavailable,
        Component.Azurite => Core.StateStores.AzuriteServer.Missing,
        _ => throw new ArgumentOutOfRangeException(nameof(component)),
    };
}
