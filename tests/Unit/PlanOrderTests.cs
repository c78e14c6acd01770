using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>The order a plan takes components back in: stages by default, DependsOn over them, and cycles found.</summary>
public sealed class PlanOrderTests
{
    private static IReadOnlyDictionary<string, int> Waves(params (string Name, RollbackStage Stage, string[] DependsOn)[] components) =>
        PlanOrder.Waves(components.Select(c => (c.Name, c.Stage, (IReadOnlyList<string>)c.DependsOn)).ToList());

    [Fact]
    public void Flags_go_first_then_configuration_then_the_application_then_the_data()
    {
        var waves = Waves(
            ("schema", RollbackStage.Data, Array.Empty<string>()),
            ("web", RollbackStage.Application, Array.Empty<string>()),
            ("api", RollbackStage.Application, Array.Empty<string>()),
            ("config", RollbackStage.Configuration, Array.Empty<string>()),
            ("flag", RollbackStage.FeatureFlags, Array.Empty<string>()));

        Assert.Equal(new[] { 1, 2, 3, 3, 4 }, new[] { "flag", "config", "web", "api", "schema" }.Select(n => waves[n]));
    }

    [Fact]
    public void A_component_goes_back_before_the_components_it_depends_on_even_against_the_stages()
    {
        // The flag service's config reads a column the schema adds: the schema must go back after the config, and the
        // config after the flag that guards it, whatever their stages say.
        var waves = Waves(
            ("flag", RollbackStage.FeatureFlags, new[] { "schema" }),
            ("schema", RollbackStage.Data, new[] { "config" }),
            ("config", RollbackStage.Configuration, Array.Empty<string>()),
            ("web", RollbackStage.Application, Array.Empty<string>()));

        Assert.True(waves["flag"] < waves["schema"]);
        Assert.True(waves["schema"] < waves["config"]);
        Assert.Equal(waves.Values.Distinct().Count(), waves.Values.Distinct().Max());
    }

    [Fact]
    public void Independent_components_of_one_stage_share_a_wave()
    {
        var waves = Waves(("a", RollbackStage.Application, Array.Empty<string>()), ("b", RollbackStage.Application, Array.Empty<string>()));
        Assert.Equal(waves["a"], waves["b"]);
        Assert.Equal(1, waves["a"]);
    }

    [Fact]
    public void A_cycle_is_found_and_named_in_order()
    {
        var cycle = PlanOrder.FindCycle(new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase)
        {
            ["web"] = new[] { "api" }, ["api"] = new[] { "db" }, ["db"] = new[] { "WEB" }, ["flag"] = Array.Empty<string>(),
        });

        Assert.NotNull(cycle);
        Assert.Equal(4, cycle!.Count);
        Assert.Equal(cycle[0], cycle[^1], StringComparer.OrdinalIgnoreCase);
    }

    [Fact]
    public void No_cycle_in_a_chain()
    {
        Assert.Null(PlanOrder.FindCycle(new Dictionary<string, IReadOnlyList<string>> { ["a"] = new[] { "b" }, ["b"] = new[] { "c" }, ["c"] = Array.Empty<string>() }));
    }
}
