from tests.fixtures.factories import Merchant


async def test_create_and_get(merchant: Merchant) -> None:
    created = await merchant.create_payment()
    answer = await merchant.http.get(f"/payment/request/{created['id']}", headers=await merchant.headers())
    assert answer.status_code == 200
    assert answer.json()["status"] == "pending"
