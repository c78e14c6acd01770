using System.Text;

namespace DeploymentRollback.Commands;

/// <summary>The text of a new plan: the components found in the folder, and commented examples of every other kind.</summary>
internal static class PlanScaffold
{
    public static string Write(string service, string folder, string? healthCheckUri, out List<string> found)
    {
        var components = new List<string>();
        found = new List<string>();
        if (Directory.Exists(Path.Combine(folder, ".git")))
        {
            components.Add("@{ Name = 'code'; Strategy = 'Git'; Path = '.' }    # add RestartScript = './restart.sh' to restart the app");
            found.Add("code (Git)");
        }

        if (new[] { "compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml" }.Any(f => File.Exists(Path.Combine(folder, f))))
        {
            components.Add("@{ Name = 'containers'; Strategy = 'DockerCompose'; Path = '.' }");
            found.Add("containers (DockerCompose)");
        }

        var appSettings = Path.Combine(folder, "appsettings.json");
        if (File.Exists(appSettings) && File.ReadAllText(appSettings).Contains("\"FeatureManagement\"", StringComparison.Ordinal))
        {
            components.Add("@{ Name = 'flag'; Strategy = 'FeatureFlag'; Provider = 'FeatureManagement'; Path = './appsettings.json'; Flag = '<the new feature>' }");
            found.Add("flag (FeatureFlag)");
        }

        if (File.Exists(Path.Combine(folder, "manage.py")))
        {
            components.Add("@{ Name = 'schema'; Strategy = 'Database'; Tool = 'Django'; Path = '.'; App = '<app label>' }");
            found.Add("schema (Database, Django)");
        }
        else if (File.Exists(Path.Combine(folder, "alembic.ini")))
        {
            components.Add("@{ Name = 'schema'; Strategy = 'Database'; Tool = 'Alembic'; Path = '.' }");
            found.Add("schema (Database, Alembic)");
        }

        var text = new StringBuilder();
        text.AppendLine($"# The rollback plan of {service}: Invoke-Rollback -Plan <this file> takes its failing components back to the last");
        text.AppendLine("# release recorded with Test-RollbackHealth -Plan <this file> -RecordVerified, in order: flags, configuration,");
        text.AppendLine("# application, database (DependsOn = @('<name>') makes a component go back before the ones it needs).");
        text.AppendLine("# Each component takes its strategy's Invoke-Rollback parameters; paths are relative to this file. Secrets never");
        text.AppendLine("# go here: pass them with -ComponentParameter @{ '<name>' = @{ ApiToken = $token } }. Check it with Test-RollbackPlan.");
        text.AppendLine("@{");
        text.AppendLine($"    Service    = '{service.Replace("'", "''", StringComparison.Ordinal)}'");
        text.AppendLine("    Components = @(");
        foreach (var component in components)
        {
            text.AppendLine("        " + component);
        }

        text.AppendLine("        # @{ Name = 'config'; Strategy = 'Config'; Path = './config/app.yml' }");
        text.AppendLine("        # @{ Name = 'flag'; Strategy = 'FeatureFlag'; Provider = 'Unleash'; Uri = 'http://unleash:4242'; Flag = 'new-checkout'; Environment = 'production' }");
        text.AppendLine("        # @{ Name = 'web'; Strategy = 'Kubernetes'; Namespace = 'shop'; HealthCheckUri = 'http://web.shop/health' }    # Name is the Deployment's name");
        text.AppendLine("        # @{ Name = 'api'; Strategy = 'Container' }    # Name is the container's name");
        text.AppendLine("        # @{ Name = 'schema'; Strategy = 'Database'; Tool = 'Alembic'; Path = './db'; DependsOn = @() }");
        text.AppendLine("    )");
        text.AppendLine(healthCheckUri is null
            ? "    # HealthCheckUri = 'http://127.0.0.1:8080/health'    # the service's own checks, run after every component went back"
            : $"    HealthCheckUri = '{healthCheckUri.Replace("'", "''", StringComparison.Ordinal)}'");
        text.AppendLine("    # SmokeTest      = './smoke.sh'");
        text.AppendLine("}");
        return text.ToString();
    }
}
