using System.Net;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>How -StateStore and DEPLOYMENT_ROLLBACK_STATE are read: every form, and never a secret in what is shown.</summary>
public sealed class StateStoreAddressTests
{
    [Theory]
    [InlineData("postgresql://rollback:S3cret%21@db.internal:6432/state?sslmode=Require", "PostgreSQL", "postgresql://rollback@db.internal:6432/state", "S3cret")]
    [InlineData("postgres://rollback@db.internal/state", "PostgreSQL", "postgresql://rollback@db.internal:5432/state", null)]
    [InlineData("Host=db.internal;Port=6432;Database=state;Username=rollback;Password=S3cret", "PostgreSQL", "postgresql://rollback@db.internal:6432/state", "S3cret")]
    [InlineData("https://contosoops.blob.core.windows.net/rollback-state?sv=2024-11-04&sp=racwdl&sig=S3cretSig%3D", "AzureBlob", "https://contosoops.blob.core.windows.net/rollback-state", "S3cretSig")]
    [InlineData("DefaultEndpointsProtocol=https;AccountName=contosoops;AccountKey=S3cretKey0==;EndpointSuffix=core.windows.net;Container=rollback-state", "AzureBlob", "https://contosoops.blob.core.windows.net/rollback-state", "S3cretKey0")]
    [InlineData("DefaultEndpointsProtocol=https;AccountName=contosoops;AccountKey=S3cretKey0==;EndpointSuffix=core.windows.net", "AzureBlob", "https://contosoops.blob.core.windows.net/deployment-rollback", "S3cretKey0")]
    public void Each_form_names_its_store_and_shows_no_secret(string text, string kind, string location, string? secret)
    {
        var address = StateStoreAddress.Parse(text, null);
        Assert.Equal((kind, location), (address.Kind, address.Location));
        if (secret is not null)
        {
            Assert.DoesNotContain(secret, address.Location);
        }
    }

    [Fact]
    public void A_credential_supplies_the_user_and_is_not_shown()
    {
        var address = StateStoreAddress.Parse("postgresql://db.internal/state", new NetworkCredential("rollback", "S3cret"));
        Assert.Equal("postgresql://rollback@db.internal:5432/state", address.Location);
    }

    [Theory]
    [InlineData("mysql://db/state")]
    [InlineData("/var/lib/deployment-rollback")]
    [InlineData("https://contosoops.blob.core.windows.net/")]
    [InlineData("Host=;Database=state")]
    [InlineData("Password=S3cret;Server")]
    public void Anything_else_is_refused_with_StateStoreInvalid_and_no_secret(string text)
    {
        var error = Assert.Throws<RollbackException>(() => StateStoreAddress.Parse(text, null));
        Assert.Equal(ErrorIds.StateStoreInvalid, error.ErrorId);
        Assert.DoesNotContain("S3cret", error.Message);
        Assert.Contains("postgresql://", error.Message);
    }
}
