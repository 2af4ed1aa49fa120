//! The blob store's own tests: round trips, ranges, where a local directory puts its
//! files, and what is remembered in memory.

use super::*;
use uuid::Uuid;

#[tokio::test]
async fn put_get_range_delete_round_trip() {
    let store = BlobStore::in_memory();
    let key = BlobStore::original_key(Uuid::nil(), Uuid::max());
    assert_eq!(BlobStore::image_of_key(&key), Some(Uuid::max()));
    store
        .put(&key, Bytes::from_static(b"0123456789"))
        .await
        .unwrap();
    let read = store.get(&key, Some(2..5)).await.unwrap();
    assert_eq!(read.total_size, 10);
    assert_eq!(read.body.into_bytes().await.unwrap(), &b"234"[..]);
    store.delete(&key).await.unwrap();
    store.delete(&key).await.unwrap();
    assert!(matches!(
        store.get(&key, None).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn local_directory_writes_files_where_the_key_says() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open_directory(dir.path().to_str().unwrap()).unwrap();
    store
        .put("e/i/original", Bytes::from_static(b"abc"))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("e/i/original")).unwrap(),
        b"abc"
    );
    // Ranges of a file larger than one read chunk come back exact.
    let big: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    store
        .put("e/i/big", Bytes::from(big.clone()))
        .await
        .unwrap();
    for range in [0..600_000u64, 100..550_000, 262_143..262_145] {
        let read = store.get("e/i/big", Some(range.clone())).await.unwrap();
        let expected = &big[range.start as usize..range.end as usize];
        assert_eq!(read.body.into_bytes().await.unwrap(), expected);
    }
    store.delete("e/i/big").await.unwrap();
    let listed: Vec<BlobEntry> = store.list_under(None).try_collect().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, "e/i/original");
    store.ping().await.unwrap();
}

/// A small blob, once written, is served from memory (even when its file is gone
/// behind the store's back) until deleted through the store; a large one never is.
#[tokio::test]
async fn small_blobs_are_remembered_until_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open_directory(dir.path().to_str().unwrap())
        .unwrap()
        .remembering(4 << 20);
    store
        .put("e/i/small", Bytes::from_static(b"abc"))
        .await
        .unwrap();
    let large = Bytes::from(vec![7u8; HOT_BLOB_MAX + 1]);
    store.put("e/i/large", large).await.unwrap();
    std::fs::remove_file(dir.path().join("e/i/small")).unwrap();
    std::fs::remove_file(dir.path().join("e/i/large")).unwrap();

    assert_eq!(store.read_all("e/i/small").await.unwrap(), &b"abc"[..]);
    assert_eq!(store.size("e/i/small").await.unwrap(), Some(3));
    let part = store.get("e/i/small", Some(1..3)).await.unwrap();
    assert_eq!(part.body.into_bytes().await.unwrap(), &b"bc"[..]);
    assert!(matches!(
        store.get("e/i/large", None).await,
        Err(Error::NotFound(_))
    ));

    store.delete("e/i/small").await.unwrap();
    assert!(matches!(
        store.get("e/i/small", None).await,
        Err(Error::NotFound(_))
    ));
}
